"""``enqueue_http_task``: the sanctioned way to dispatch background work.

Also what every other entry point shares: preparing a task (settings, validation, trace
context), dry run, and ``Attempts``, the one retry policy the sync and async loops follow.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any, NamedTuple

import structlog

from dispatch import _capture, _trace
from dispatch._errors import (
    CloudTasksUnavailableError,
    DispatchConfigError,
    DuplicateTaskError,
    TaskCreationError,
)
from dispatch._settings import DispatchSettings
from dispatch._validate import QUEUE_ID_RE, Rejected, TaskSpec, build_spec

EVENT = "tasks.enqueue_http_task"
RETRYABLE_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})
# Below this, an attempt could not complete a round trip: give up instead of sending one.
MIN_ATTEMPT_SECONDS = 0.05

_log = structlog.get_logger("dispatch")


# --- dry run ---------------------------------------------------------------------------

_dry_run_lock = threading.Lock()
_last_dry_run = datetime.min.replace(tzinfo=timezone.utc)


def _dry_run_name() -> str:
    global _last_dry_run
    with _dry_run_lock:
        now = datetime.now(timezone.utc)
        # Two calls in the same microsecond must still get distinct names.
        if now <= _last_dry_run:
            now = _last_dry_run + timedelta(microseconds=1)
        _last_dry_run = now
    # A fixed shape (microseconds always shown) keeps the names sortable as text.
    return f"dry-run-{now.isoformat(timespec='microseconds')}"


# --- the client module, loaded only when a task is really sent ------------------------


_client_module: ModuleType | None = None


def loaded_client_module() -> ModuleType | None:
    return _client_module


def load_client_module(fields: Mapping[str, Any]) -> ModuleType:
    global _client_module
    if _client_module is not None:
        return _client_module
    try:
        from dispatch import _tasks_client
    except CloudTasksUnavailableError as exc:
        _log.error(f"{EVENT}.cloud_tasks_unavailable", missing=exc.missing, **fields)
        raise
    except ImportError as exc:  # a partially installed client fails in other ways
        _log.error(f"{EVENT}.cloud_tasks_unavailable", missing=exc.name, **fields)
        raise CloudTasksUnavailableError(missing=exc.name) from exc
    _client_module = _tasks_client
    return _tasks_client


# --- the public functions -------------------------------------------------------------


def log_fields(spec: TaskSpec) -> dict[str, Any]:
    return {
        "path": spec.log_path,
        "queue": spec.queue,
        "task_id": spec.task_id,
        "payload_size": len(spec.body),
    }


def prepare(  # noqa: PLR0917 - the public signature's order; enqueue_many passes keywords
    path: object,
    payload: Any,
    task_id: object,
    schedule_time: object,
    delay: object,
    dispatch_deadline: object,
    headers: Mapping[str, str] | None,
    queue: str | None,
    settings: object,
) -> tuple[TaskSpec, DispatchSettings, _capture.TaskCapture | None]:
    capture = _capture.current()
    settings = settings_or_env(settings, queue_given=queue is not None)
    try:
        spec = build_spec(
            path=path,
            payload=payload,
            task_id=task_id,
            schedule_time=schedule_time,
            delay=delay,
            dispatch_deadline=dispatch_deadline,
            headers=headers,
            queue=queue,
            settings=settings,
            trace_headers=_trace.current_headers(),
            # Dry run and capture send nothing, so they need no queue or base URL.
            require_config=capture is None and not settings.dry_run,
        )
    except Rejected as rejected:
        raise log_rejected(rejected, queue, settings) from None
    return spec, settings, capture


def log_rejected(
    rejected: Rejected, queue: object, settings: DispatchSettings
) -> DispatchConfigError:
    """Log a refusal under its event; the error to raise."""
    error = rejected.error
    _log.error(
        f"{EVENT}.{rejected.event}",
        field=error.field,
        error=error.message,
        queue=_loggable_queue(queue, settings),
    )
    return error


def settings_or_env(settings: object, *, queue_given: bool = False) -> DispatchSettings:
    """``settings``, or the environment's; ``queue_given``: the call names its queue."""
    if settings is None:
        try:
            return DispatchSettings._read_env(None, {}, queue_given=queue_given)
        except DispatchConfigError as exc:
            _log.error(f"{EVENT}.config_missing", field=exc.field, error=str(exc))
            raise
    if not isinstance(settings, DispatchSettings):
        error = DispatchConfigError(
            f"settings must be a DispatchSettings, got {type(settings).__name__}",
            field="settings",
        )
        _log.error(f"{EVENT}.config_missing", field=error.field, error=error.message)
        raise error
    return settings


def _loggable_queue(queue: object, settings: DispatchSettings) -> str | None:
    if queue is None:
        return settings.queue
    # A rejected queue argument may be anything (a huge string, an object): not logged.
    return queue if isinstance(queue, str) and QUEUE_ID_RE.fullmatch(queue) else None


def enqueue_http_task(
    path: str,
    payload: Any = None,
    *,
    task_id: str | None = None,
    schedule_time: datetime | None = None,
    delay: timedelta | float | None = None,
    dispatch_deadline: timedelta | float | None = None,
    headers: Mapping[str, str] | None = None,
    queue: str | None = None,
    settings: DispatchSettings | None = None,
) -> str:
    """Create an HTTP task that POSTs ``payload`` as JSON to ``TASKS_BASE_URL + path``.

    Returns the full task name (``projects/P/locations/L/queues/Q/tasks/ID``), or
    ``dry-run-<iso timestamp>`` when ``TASKS_DRY_RUN`` is set. Raises
    ``DispatchConfigError`` (a ``ValueError``) for bad settings or arguments before any
    RPC, ``CloudTasksUnavailableError`` (an ``ImportError``) when google-cloud-tasks is not
    installed, ``DuplicateTaskError`` when ``task_id`` was already used, and
    ``TaskCreationError`` (a ``RuntimeError``) when Cloud Tasks fails for longer than the
    retry budget or with an error that retrying cannot fix.
    """
    ready = begin(
        path, payload, task_id, schedule_time, delay, dispatch_deadline, headers, queue, settings
    )
    return ready if isinstance(ready, str) else send(*ready)


class Ready(NamedTuple):
    """A task prepared to be sent: neither captured nor a dry run."""

    spec: TaskSpec
    settings: DispatchSettings
    started: float  # time.monotonic() when the call began: the retry budget counts from it


def begin(  # noqa: PLR0917 - the public signature, passed on as it stands
    path: object,
    payload: Any,
    task_id: object,
    schedule_time: object,
    delay: object,
    dispatch_deadline: object,
    headers: Mapping[str, str] | None,
    queue: str | None,
    settings: object,
) -> str | Ready:
    """What ``enqueue_http_task`` and ``enqueue_http_task_async`` do before any RPC, in one
    place: settings, validation, capture and dry run (their errors and log events).

    The task's name when nothing is to be sent (captured, or a dry run), else the task to send.
    """
    started = time.monotonic()
    spec, settings, capture = prepare(
        path, payload, task_id, schedule_time, delay, dispatch_deadline, headers, queue, settings
    )
    if capture is not None:
        return capture.record(spec)
    if settings.dry_run:
        return dry_run(spec)
    return Ready(spec, settings, started)


def dry_run(spec: TaskSpec) -> str:
    name = _dry_run_name()
    _log.info("tasks.dry_run", **log_fields(spec), dry_run_name=name)
    return name


def send(spec: TaskSpec, settings: DispatchSettings, started: float) -> str:
    fields = log_fields(spec)
    tasks_client = load_client_module(fields)
    log_start(fields)
    with client_failure_logged(fields):
        client = tasks_client.get_client(settings)
    request = build_request(tasks_client, spec, fields)
    attempts = Attempts(spec, settings, started, fields)
    while True:
        timeout = attempts.timeout()
        try:
            name: str = tasks_client.create_task(
                client, request, spec, timeout=timeout, attempt=attempts.attempt
            )
        except TaskCreationError as exc:
            outcome = attempts.failed(exc)
            if isinstance(outcome, str):
                return outcome
            time.sleep(outcome)
            continue
        return attempts.created(name)


def log_start(fields: dict[str, Any]) -> None:
    # Info: the one event logged before the RPC, so a call that hangs or dies still shows
    # up, and the documented check "look for event=tasks.enqueue_http_task.start when
    # dispatching" works at the default level.
    _log.info(f"{EVENT}.start", **fields)


@contextmanager
def client_failure_logged(fields: dict[str, Any]) -> Iterator[None]:
    """Log a client that cannot be built (``TaskCreationError``) under its event."""
    try:
        yield
    except TaskCreationError as exc:
        _log.error(f"{EVENT}.cloud_tasks_client_failed", error=str(exc), **fields)
        raise


def build_request(tasks_client: ModuleType, spec: TaskSpec, fields: dict[str, Any]) -> Any:
    try:
        return tasks_client.build_request(spec)
    except TaskCreationError as exc:
        _log.error(f"{EVENT}.task_build_failed", error=exc.message, **fields)
        raise


class Attempts:
    """One task's retry policy: budget, backoff, duplicate recovery and their log events.

    The sync and async loops differ only in how they call and how they wait; every
    decision is taken here, so the two cannot drift apart.
    """

    def __init__(
        self,
        spec: TaskSpec,
        settings: DispatchSettings,
        started: float,
        fields: dict[str, Any],
        *,
        maybe_landed: bool = False,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.started = started
        self.fields = fields
        self.deadline = started + settings.retry_budget
        self.attempt = 0
        # True once an attempt may have reached Cloud Tasks without its answer reaching us.
        self.maybe_landed = maybe_landed

    def timeout(self) -> float:
        """Start the next attempt; the time it may take."""
        self.attempt += 1
        remaining = self.deadline - time.monotonic()
        return max(min(self.settings.attempt_timeout, remaining), MIN_ATTEMPT_SECONDS)

    def created(self, name: str) -> str:
        _log_created(
            self.fields, task_name=name, attempt=self.attempt, duration_ms=_ms(self.started)
        )
        return name

    def failed(self, exc: TaskCreationError) -> float | str:
        """The seconds to wait before the next attempt, or the task's name when it exists.

        Raises the error to give the caller when retrying is over.
        """
        spec, fields = self.spec, self.fields
        if isinstance(exc, DuplicateTaskError):
            duration_ms = _ms(self.started)
            if self.maybe_landed:
                # Our own earlier attempt reached Cloud Tasks before its answer was lost:
                # the task exists exactly once, which is what the caller asked for.
                _log_created(
                    fields,
                    task_name=spec.task_name,
                    attempt=self.attempt,
                    duration_ms=duration_ms,
                    recovered=True,
                )
                return str(spec.task_name)
            _log.warning(
                f"{EVENT}.duplicate",
                **fields,
                task_name=exc.task_name,
                attempt=self.attempt,
                duration_ms=duration_ms,
            )
            raise exc
        code = exc.code
        if code in RETRYABLE_CODES:
            self.maybe_landed = True
            backoff = _backoff(self.settings, self.attempt)
            if time.monotonic() + backoff + MIN_ATTEMPT_SECONDS < self.deadline:
                _log.warning(
                    f"{EVENT}.retry",
                    **fields,
                    attempt=self.attempt,
                    code=code,
                    backoff_ms=round(backoff * 1000, 1),
                    duration_ms=_ms(self.started),
                )
                return backoff
        error = _final_error(
            exc,
            spec=spec,
            attempts=self.attempt,
            maybe_landed=self.maybe_landed,
            settings=self.settings,
            started=self.started,
        )
        _log.error(
            f"{EVENT}.create_failed",
            **fields,
            code=code,
            attempt=self.attempt,
            duration_ms=_ms(self.started),
            outcome_unknown=error.outcome_unknown,
        )
        # Chain straight to the google error: the intermediate one adds nothing.
        raise error from exc.__cause__

    def cancelled(self, *, in_flight: bool) -> None:
        """Log that the caller cancelled the enqueue (async): the task may exist."""
        _log.warning(
            f"{EVENT}.cancelled",
            **self.fields,
            task_name=self.spec.task_name,
            attempt=self.attempt,
            duration_ms=_ms(self.started),
            outcome_unknown=self.maybe_landed or in_flight,
        )


def _log_created(fields: dict[str, Any], **extra: Any) -> None:
    # The task exists now. A failing log pipeline (a processor that raises, a closed
    # stream) must not turn that into an exception: a caller would retry and create it
    # again under a new id, or lose its name.
    try:
        _log.info(f"{EVENT}.created", **fields, **extra)
    except Exception:
        return


def _final_error(
    exc: TaskCreationError,
    *,
    spec: TaskSpec,
    attempts: int,
    maybe_landed: bool,
    settings: DispatchSettings,
    started: float,
) -> TaskCreationError:
    if exc.code in RETRYABLE_CODES:
        message = (
            f"Cloud Tasks CreateTask still failing after {attempts} attempt(s) in "
            f"{time.monotonic() - started:.1f}s (retry budget {settings.retry_budget:g}s); "
            f"last error: {exc.message}"
        )
    else:
        message = exc.message
    unknown = maybe_landed or exc.outcome_unknown
    if unknown:
        message += f"; task {spec.task_name} may exist: re-send with task_id={spec.task_id!r}"
    return TaskCreationError(
        message,
        task_name=spec.task_name,
        queue=spec.queue,
        code=exc.code,
        attempts=attempts,
        outcome_unknown=unknown,
    )


def _backoff(settings: DispatchSettings, attempt: int) -> float:
    ceiling: float = min(settings.max_backoff, settings.initial_backoff * 2.0 ** (attempt - 1))
    # "Equal jitter": callers failing together spread out, yet each still waits.
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
