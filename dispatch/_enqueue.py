"""``enqueue_http_task`` and ``enqueue_many``: the sanctioned way to dispatch background work."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import structlog

from dispatch import _capture
from dispatch._errors import (
    BulkEnqueueError,
    CloudTasksUnavailableError,
    DispatchConfigError,
    DispatchError,
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


def _tasks_client(fields: Mapping[str, Any]) -> ModuleType:
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


def _log_fields(spec: TaskSpec) -> dict[str, Any]:
    return {
        "path": spec.log_path,
        "queue": spec.queue,
        "task_id": spec.task_id,
        "payload_size": len(spec.body),
    }


def _prepare(
    path: object,
    payload: Any,
    *,
    task_id: object,
    schedule_time: object,
    delay: object,
    dispatch_deadline: object,
    headers: Mapping[str, str] | None,
    queue: str | None,
    settings: object,
) -> tuple[TaskSpec, DispatchSettings, _capture.TaskCapture | None]:
    capture = _capture.current()
    settings = _settings_or_env(settings)
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
            # Dry run and capture send nothing, so they need no queue or base URL.
            require_config=capture is None and not settings.dry_run,
        )
    except Rejected as rejected:
        error = rejected.error
        _log.error(
            f"{EVENT}.{rejected.event}",
            field=error.field,
            error=error.message,
            queue=_loggable_queue(queue, settings),
        )
        raise error from None
    return spec, settings, capture


def _settings_or_env(settings: object) -> DispatchSettings:
    if settings is None:
        try:
            return DispatchSettings.from_env()
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
    started = time.monotonic()
    spec, settings, capture = _prepare(
        path,
        payload,
        task_id=task_id,
        schedule_time=schedule_time,
        delay=delay,
        dispatch_deadline=dispatch_deadline,
        headers=headers,
        queue=queue,
        settings=settings,
    )
    if capture is not None:
        return capture.record(spec)
    if settings.dry_run:
        name = _dry_run_name()
        _log.info("tasks.dry_run", **_log_fields(spec), dry_run_name=name)
        return name
    return _send(spec, settings, started)


def _send(spec: TaskSpec, settings: DispatchSettings, started: float) -> str:
    fields = _log_fields(spec)
    tasks_client = _tasks_client(fields)
    # Info: the one event logged before the RPC, so a call that hangs or dies still shows
    # up, and the documented check "look for event=tasks.enqueue_http_task.start when
    # dispatching" works at the default level.
    _log.info(f"{EVENT}.start", **fields)
    try:
        client = tasks_client.get_client(settings)
    except TaskCreationError as exc:
        _log.error(f"{EVENT}.cloud_tasks_client_failed", error=str(exc), **fields)
        raise
    try:
        request = tasks_client.build_request(spec)
    except TaskCreationError as exc:
        _log.error(f"{EVENT}.task_build_failed", error=exc.message, **fields)
        raise

    deadline = started + settings.retry_budget
    attempt = 0
    maybe_landed = False
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        try:
            name: str = tasks_client.create_task(
                client,
                request,
                spec,
                timeout=max(min(settings.attempt_timeout, remaining), MIN_ATTEMPT_SECONDS),
                attempt=attempt,
            )
        except DuplicateTaskError as exc:
            duration_ms = _ms(started)
            if maybe_landed:
                # Our own earlier attempt reached Cloud Tasks before its answer was lost:
                # the task exists exactly once, which is what the caller asked for.
                _log_created(
                    fields,
                    task_name=spec.task_name,
                    attempt=attempt,
                    duration_ms=duration_ms,
                    recovered=True,
                )
                return str(spec.task_name)
            _log.warning(
                f"{EVENT}.duplicate",
                **fields,
                task_name=exc.task_name,
                attempt=attempt,
                duration_ms=duration_ms,
            )
            raise
        except TaskCreationError as exc:
            code = exc.code
            if code in RETRYABLE_CODES:
                maybe_landed = True
                backoff = _backoff(settings, attempt)
                if time.monotonic() + backoff + MIN_ATTEMPT_SECONDS < deadline:
                    _log.warning(
                        f"{EVENT}.retry",
                        **fields,
                        attempt=attempt,
                        code=code,
                        backoff_ms=round(backoff * 1000, 1),
                        duration_ms=_ms(started),
                    )
                    time.sleep(backoff)
                    continue
            error = _final_error(
                exc,
                spec=spec,
                attempts=attempt,
                maybe_landed=maybe_landed,
                settings=settings,
                started=started,
            )
            _log.error(
                f"{EVENT}.create_failed",
                **fields,
                code=code,
                attempt=attempt,
                duration_ms=_ms(started),
                outcome_unknown=error.outcome_unknown,
            )
            # Chain straight to the google error: the intermediate one adds nothing.
            raise error from exc.__cause__
        _log_created(fields, task_name=name, attempt=attempt, duration_ms=_ms(started))
        return name


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


# --- bulk ------------------------------------------------------------------------------

_ARG_NAMES = frozenset(
    {
        "path",
        "payload",
        "task_id",
        "schedule_time",
        "delay",
        "dispatch_deadline",
        "headers",
        "queue",
        "settings",
    }
)


def _item_kwargs(index: int, item: object) -> dict[str, Any]:
    if isinstance(item, Mapping):
        unknown = set(item) - _ARG_NAMES
        if unknown or "path" not in item:
            what = f"unknown key(s) {sorted(map(str, unknown))}" if unknown else "no 'path'"
            raise DispatchConfigError(f"item {index}: {what}", field="items")
        return dict(item)
    if isinstance(item, tuple) and len(item) == 2:
        return {"path": item[0], "payload": item[1]}
    raise DispatchConfigError(
        f"item {index}: expected a mapping of enqueue_http_task arguments or a "
        f"(path, payload) tuple, got {type(item).__name__}",
        field="items",
    )


def enqueue_many(
    items: Iterable[Mapping[str, Any] | tuple[str, Any]],
    *,
    max_workers: int = 8,
    settings: DispatchSettings | None = None,
) -> list[str]:
    """Enqueue many tasks concurrently on the shared client; return their names in order.

    Each item is a mapping of ``enqueue_http_task`` keyword arguments (``path`` required)
    or a ``(path, payload)`` tuple. Every item is validated before anything is sent: if
    one is invalid, nothing is sent. When some tasks fail to be created, the others are
    still created and one ``BulkEnqueueError`` lists every failure and keeps the names of
    the successes.
    """
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise DispatchConfigError("max_workers must be a positive int", field="max_workers")
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        # A str or a dict iterates as characters or keys: never what the caller meant.
        raise DispatchConfigError(
            f"items must be an iterable of items (mappings or (path, payload) tuples), "
            f"got {type(items).__name__}",
            field="items",
        )
    settings = _settings_or_env(settings)
    prepared: list[tuple[TaskSpec, DispatchSettings, _capture.TaskCapture | None]] = []
    invalid: list[tuple[int, DispatchError]] = []
    named: dict[tuple[str | None, str], int] = {}
    count = 0
    for index, item in enumerate(items):
        count += 1
        try:
            kwargs = _item_kwargs(index, item)
            kwargs.setdefault("settings", settings)
            path = kwargs.pop("path")
            payload = kwargs.pop("payload", None)
            entry = _prepare(path, payload, **_with_defaults(kwargs))
        except DispatchError as exc:
            invalid.append((index, exc))
            continue
        spec = entry[0]
        if spec.task_id_given:
            # Two items naming one task: sent concurrently, which of them Cloud Tasks
            # keeps would be down to timing. Known before sending, so refused up front.
            key = (spec.queue_path or spec.queue, spec.task_id)
            first = named.setdefault(key, index)
            if first != index:
                message = f"item {index}: task_id {spec.task_id!r} is also used by item {first}"
                _log.error(
                    f"{EVENT}.task_build_failed", field="task_id", error=message, queue=spec.queue
                )
                invalid.append((index, DispatchConfigError(message, field="task_id")))
                continue
        prepared.append(entry)
    if invalid:
        raise BulkEnqueueError([None] * count, invalid)

    def send(entry: tuple[TaskSpec, DispatchSettings, _capture.TaskCapture | None]) -> str:
        spec, item_settings, capture = entry
        if capture is not None:
            return capture.record(spec)
        if item_settings.dry_run:
            name = _dry_run_name()
            _log.info("tasks.dry_run", **_log_fields(spec), dry_run_name=name)
            return name
        # Each task's budget starts when its turn comes, not when the bulk call began.
        return _send(spec, item_settings, time.monotonic())

    names: list[str | None] = [None] * count
    failures: list[tuple[int, DispatchError]] = []
    if count == 0:
        return []
    with ThreadPoolExecutor(max_workers=min(max_workers, count)) as pool:
        futures = [pool.submit(send, entry) for entry in prepared]
        for index, future in enumerate(futures):
            try:
                names[index] = future.result()
            except DispatchError as exc:
                failures.append((index, exc))
            except Exception as exc:
                # Keep the other items' outcome: report the surprise as this item's failure.
                error = TaskCreationError(f"unexpected {type(exc).__name__}: {exc}")
                error.__cause__ = exc
                failures.append((index, error))
    if failures:
        raise BulkEnqueueError(names, failures)
    return [name for name in names if name is not None]


def _with_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    for key in ("task_id", "schedule_time", "delay", "dispatch_deadline", "headers", "queue"):
        kwargs.setdefault(key, None)
    return kwargs
