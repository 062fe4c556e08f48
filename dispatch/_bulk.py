"""``enqueue_many`` and ``enqueue_many_async``: many tasks, in batches of one queue.

Every item is validated first (one invalid item: nothing is sent). Items for Cloud Tasks
are grouped by settings and queue into batches of at most 100 (and 8 MiB) and sent with
BatchCreateTasks, a long-running operation polled until it is done; its per-request
failures are mapped back index by index. Each batch carries a ``request_id`` kept across
its retries, and every task a name chosen here, so a retried batch cannot create a task
twice. Where the service answers UNIMPLEMENTED (an emulator without batches), the items
go through concurrent CreateTask calls instead, and that is logged once per process and
target. Dry run and capture record each item as ``enqueue_http_task`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeAlias

from dispatch import _capture
from dispatch._enqueue import (
    EVENT,
    MIN_ATTEMPT_SECONDS,
    RETRYABLE_CODES,
    _backoff,
    _log,
    _ms,
    dry_run,
    load_client_module,
    log_fields,
    log_rejected,
    prepare,
    send,
    settings_or_env,
)
from dispatch._enqueue_async import client_module_async, send_async
from dispatch._errors import (
    BulkEnqueueError,
    DispatchConfigError,
    DispatchError,
    DuplicateTaskError,
    TaskCreationError,
)
from dispatch._settings import DispatchSettings
from dispatch._validate import TaskSpec, config_problems, rejected_configuration

BULK_EVENT = "tasks.enqueue_many"
MAX_BATCH = 100  # Cloud Tasks: at most 100 tasks per BatchCreateTasks
# And at most this many bytes of tasks per call: 100 tasks of up to 1 MB each would make
# a request far above what a gRPC front end accepts, so large tasks go in smaller batches.
MAX_BATCH_BYTES = 8 * 1024 * 1024
# How often a running operation is polled: from the first value, doubling to the second.
POLL_INITIAL = 0.02
POLL_MAX = 1.0

Item: TypeAlias = "Mapping[str, Any] | tuple[str, Any]"
Outcome: TypeAlias = "str | DispatchError"
Prepared: TypeAlias = "tuple[TaskSpec, DispatchSettings, _capture.TaskCapture | None]"

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

# (pid, emulator host) of the services that answered UNIMPLEMENTED to BatchCreateTasks.
_no_batches: set[tuple[int, str | None]] = set()
_no_batches_lock = threading.Lock()


# --- preparing every item ----------------------------------------------------------------


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


def _with_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    for key in ("task_id", "schedule_time", "delay", "dispatch_deadline", "headers", "queue"):
        kwargs.setdefault(key, None)
    return kwargs


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DispatchConfigError(f"{name} must be a positive int", field=name)


def _prepare_all(items: object, settings: DispatchSettings | None) -> list[Prepared]:
    """Validate every item; raise one ``BulkEnqueueError`` naming each invalid one."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        # A str or a dict iterates as characters or keys: never what the caller meant.
        raise DispatchConfigError(
            f"items must be an iterable of items (mappings or (path, payload) tuples), "
            f"got {type(items).__name__}",
            field="items",
        )
    items = list(items)
    # Items that bring no settings of their own share the call's: a problem of those is the
    # same for every one of them, so it is checked (and logged) once, before any item.
    shared = [item for item in items if not (isinstance(item, Mapping) and "settings" in item)]
    queue_given = all(
        isinstance(item, Mapping) and item.get("queue") is not None for item in shared
    )
    default = settings_or_env(settings, queue_given=queue_given)
    if shared and _capture.current() is None and not default.dry_run:
        problems = config_problems(default, queue_given=queue_given, require=True)
        if problems:
            raise log_rejected(rejected_configuration(problems), None, default)
    prepared: list[Prepared] = []
    invalid: list[tuple[int, DispatchError]] = []
    named: dict[tuple[str | None, str], int] = {}
    count = 0
    for index, item in enumerate(items):
        count += 1
        try:
            kwargs = _item_kwargs(index, item)
            kwargs.setdefault("settings", default)
            path = kwargs.pop("path")
            payload = kwargs.pop("payload", None)
            entry = prepare(path, payload, **_with_defaults(kwargs))
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
    return prepared


# --- the plan: local items done at once, the rest in batches ------------------------------


@dataclass
class _Batch:
    settings: DispatchSettings
    queue_path: str
    queue: str | None
    indexes: list[int] = field(default_factory=list)
    specs: list[TaskSpec] = field(default_factory=list)
    size: int = 0  # bytes, as counted by validation (TaskSpec.size)


@dataclass
class _Plan:
    outcomes: list[Outcome | None]
    batches: list[_Batch]

    def settle(self, index: int, outcome: Outcome) -> None:
        self.outcomes[index] = outcome

    def result(self) -> list[str]:
        names: list[str | None] = []
        failures: list[tuple[int, DispatchError]] = []
        for index, outcome in enumerate(self.outcomes):
            if isinstance(outcome, str):
                names.append(outcome)
                continue
            names.append(None)
            # None is a bug, never silently a success.
            error = outcome or TaskCreationError(
                f"item {index} was never sent", outcome_unknown=True
            )
            failures.append((index, error))
        if failures:
            raise BulkEnqueueError(names, failures)
        return [name for name in names if name is not None]


def _plan(prepared: list[Prepared]) -> _Plan:
    plan = _Plan(outcomes=[None] * len(prepared), batches=[])
    groups: dict[tuple[DispatchSettings, str], list[_Batch]] = {}
    for index, (spec, settings, capture) in enumerate(prepared):
        if capture is not None:
            plan.settle(index, _local(capture.record, spec))
            continue
        if settings.dry_run:
            plan.settle(index, _local(dry_run, spec))
            continue
        assert spec.queue_path is not None  # required when sending
        chunks = groups.setdefault((settings, spec.queue_path), [])
        if (
            not chunks
            or len(chunks[-1].specs) >= MAX_BATCH
            or chunks[-1].size + spec.size > MAX_BATCH_BYTES
        ):
            chunks.append(_Batch(settings, spec.queue_path, spec.queue))
            plan.batches.append(chunks[-1])
        chunks[-1].indexes.append(index)
        chunks[-1].specs.append(spec)
        chunks[-1].size += spec.size
    return plan


def _local(record: Callable[[TaskSpec], str], spec: TaskSpec) -> Outcome:
    try:
        return record(spec)
    except DispatchError as exc:
        return exc


def _unexpected(exc: BaseException) -> TaskCreationError:
    # Keep the other items' outcome: report the surprise as this item's failure.
    error = TaskCreationError(f"unexpected {type(exc).__name__}: {exc}", outcome_unknown=True)
    error.__cause__ = exc
    return error


def _batches_unimplemented(settings: DispatchSettings) -> bool:
    return (os.getpid(), settings.emulator_host) in _no_batches


def _remember_unimplemented(batch: _Batch, exc: TaskCreationError) -> None:
    key = (os.getpid(), batch.settings.emulator_host)
    with _no_batches_lock:
        first = key not in _no_batches
        _no_batches.add(key)
    if first:
        _log.warning(
            f"{BULK_EVENT}.batch_unimplemented",
            queue=batch.queue,
            error=exc.message,
            fallback="CreateTask",
        )


# --- one batch: the policy, shared by the sync and async loops --------------------------------

_FALLBACK = "fallback"


class _BatchRun:
    """One batch's BatchCreateTasks call, retries and polling: every decision, no I/O."""

    def __init__(self, batch: _Batch, tasks_client: ModuleType) -> None:
        self.batch = batch
        self.settings = batch.settings
        self.started = time.monotonic()
        self.deadline = self.started + self.settings.retry_budget
        self.attempt = 0
        self.maybe_landed = False
        self.poll_wait = POLL_INITIAL
        # The same id on every retry: the service answers with the operation it started.
        self.request_id = str(uuid.uuid4())
        self.request = tasks_client.build_batch_request(
            batch.queue_path,
            [tasks_client.build_request(spec) for spec in batch.specs],
            self.request_id,
        )
        self.fields = {"queue": batch.queue, "count": len(batch.specs)}

    def timeout(self) -> float:
        self.attempt += 1
        remaining = self.deadline - time.monotonic()
        return max(min(self.settings.attempt_timeout, remaining), MIN_ATTEMPT_SECONDS)

    def rpc_failed(self, exc: TaskCreationError) -> float | list[Outcome] | str:
        """Seconds to wait and call again, the items' outcomes, or ``_FALLBACK``."""
        if exc.code == "UNIMPLEMENTED" and not self.maybe_landed:
            _remember_unimplemented(self.batch, exc)
            return _FALLBACK
        if exc.code in RETRYABLE_CODES:
            self.maybe_landed = True
            backoff = _backoff(self.settings, self.attempt)
            if time.monotonic() + backoff + MIN_ATTEMPT_SECONDS < self.deadline:
                _log.warning(
                    f"{BULK_EVENT}.batch_retry",
                    **self.fields,
                    attempt=self.attempt,
                    code=exc.code,
                    backoff_ms=round(backoff * 1000, 1),
                    duration_ms=_ms(self.started),
                )
                return backoff
        return self._all_failed(exc.code, exc.message, exc.outcome_unknown or self.maybe_landed)

    def next_poll(self) -> float | None:
        """Seconds to wait before polling again, or ``None`` when the budget is spent."""
        wait = self.poll_wait
        self.poll_wait = min(self.poll_wait * 2, POLL_MAX)
        if time.monotonic() + wait + MIN_ATTEMPT_SECONDS >= self.deadline:
            return None
        return wait

    def poll_timeout(self) -> float:
        remaining = self.deadline - time.monotonic()
        return max(min(self.settings.attempt_timeout, remaining), MIN_ATTEMPT_SECONDS)

    def poll_failed(self, exc: TaskCreationError) -> list[Outcome] | None:
        """``None`` to keep polling (a transient error), else the items' outcomes."""
        if exc.code in RETRYABLE_CODES:
            return None
        # The operation exists: its tasks may be created even though we cannot see it.
        return self._all_failed(exc.code, exc.message, True)

    def expired(self) -> list[Outcome]:
        return self._all_failed(
            "DEADLINE_EXCEEDED",
            f"Cloud Tasks BatchCreateTasks: the operation was not done within the retry "
            f"budget ({self.settings.retry_budget:g}s)",
            True,
        )

    def _all_failed(self, code: str | None, why: str, unknown: bool) -> list[Outcome]:
        _log.error(
            f"{BULK_EVENT}.batch_failed",
            **self.fields,
            code=code,
            attempt=self.attempt,
            duration_ms=_ms(self.started),
            outcome_unknown=unknown,
        )
        outcomes: list[Outcome] = []
        for spec in self.batch.specs:
            message = why  # already says which call failed, and how
            if unknown:
                message += (
                    f"; task {spec.task_name} may exist: re-send with task_id={spec.task_id!r}"
                )
            outcomes.append(
                TaskCreationError(
                    message,
                    task_name=spec.task_name,
                    queue=spec.queue,
                    code=code,
                    attempts=self.attempt,
                    outcome_unknown=unknown,
                )
            )
        return outcomes

    def finished(self, results: list[str | TaskCreationError]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        failed = 0
        for spec, answered in zip(self.batch.specs, results, strict=True):
            result: Outcome = answered
            if isinstance(answered, DuplicateTaskError) and self.maybe_landed:
                # An earlier attempt of this batch created it before its answer was lost.
                result = str(spec.task_name)
            if isinstance(result, TaskCreationError):
                failed += 1
                event = "duplicate" if isinstance(result, DuplicateTaskError) else "create_failed"
                _log.warning(
                    f"{EVENT}.{event}",
                    **log_fields(spec),
                    code=result.code,
                    attempt=self.attempt,
                    outcome_unknown=result.outcome_unknown,
                )
            outcomes.append(result)
        # As for one task: the tasks exist; a failing log pipeline must not hide that.
        with contextlib.suppress(Exception):
            _log.info(
                f"{BULK_EVENT}.batch_created",
                **self.fields,
                created=len(outcomes) - failed,
                failed=failed,
                attempt=self.attempt,
                duration_ms=_ms(self.started),
            )
        return outcomes


def _not_sent(batch: _Batch, exc: TaskCreationError) -> list[Outcome]:
    """Every item's outcome when the batch could not even be sent (client, request)."""
    _log.error(
        f"{EVENT}.cloud_tasks_client_failed",
        queue=batch.queue,
        count=len(batch.specs),
        error=str(exc),
    )
    return [exc] * len(batch.specs)


def _send_batch(batch: _Batch, tasks_client: ModuleType) -> list[Outcome] | str:
    try:
        client = tasks_client.get_client(batch.settings)
        run = _BatchRun(batch, tasks_client)
    except TaskCreationError as exc:
        return _not_sent(batch, exc)
    while True:
        try:
            operation = tasks_client.batch_create(
                client, run.request, queue=batch.queue, timeout=run.timeout()
            )
        except TaskCreationError as exc:
            step = run.rpc_failed(exc)
            if isinstance(step, float):
                time.sleep(step)
                continue
            return step
        break
    name = tasks_client.operation_name(operation)
    while not tasks_client.operation_done(operation):
        wait = run.next_poll()
        if wait is None:
            return run.expired()
        time.sleep(wait)
        try:
            operation = tasks_client.get_operation(
                client, name, queue=batch.queue, timeout=run.poll_timeout()
            )
        except TaskCreationError as exc:
            final = run.poll_failed(exc)
            if final is not None:
                return final
    return run.finished(tasks_client.batch_results(operation, batch.specs, attempt=run.attempt))


async def _send_batch_async(batch: _Batch, tasks_client: ModuleType) -> list[Outcome] | str:
    try:
        client = await tasks_client.get_async_client(batch.settings)
        run = _BatchRun(batch, tasks_client)
    except TaskCreationError as exc:
        return _not_sent(batch, exc)
    while True:
        try:
            operation = await tasks_client.batch_create_async(
                client, run.request, queue=batch.queue, timeout=run.timeout()
            )
        except TaskCreationError as exc:
            step = run.rpc_failed(exc)
            if isinstance(step, float):
                await asyncio.sleep(step)
                continue
            return step
        break
    name = tasks_client.operation_name(operation)
    while not tasks_client.operation_done(operation):
        wait = run.next_poll()
        if wait is None:
            return run.expired()
        await asyncio.sleep(wait)
        try:
            operation = await tasks_client.get_operation_async(
                client, name, queue=batch.queue, timeout=run.poll_timeout()
            )
        except TaskCreationError as exc:
            final = run.poll_failed(exc)
            if final is not None:
                return final
    return run.finished(tasks_client.batch_results(operation, batch.specs, attempt=run.attempt))


def _split(plan: _Plan) -> tuple[list[_Batch], list[_Batch]]:
    """The batches to send with BatchCreateTasks, and those to send task by task."""
    batched: list[_Batch] = []
    single: list[_Batch] = []
    for batch in plan.batches:
        if _batches_unimplemented(batch.settings):
            single.append(batch)
        else:
            batched.append(batch)
    return batched, single


def _client_module(plan: _Plan) -> ModuleType | None:
    if not plan.batches:
        return None
    spec = plan.batches[0].specs[0]
    return load_client_module(log_fields(spec))


# --- the public functions -----------------------------------------------------------------


def enqueue_many(
    items: Iterable[Item],
    *,
    max_workers: int = 8,
    settings: DispatchSettings | None = None,
) -> list[str]:
    """Enqueue many tasks; return their names in the order of ``items``.

    Each item is a mapping of ``enqueue_http_task`` keyword arguments (``path`` required)
    or a ``(path, payload)`` tuple. Every item is validated before anything is sent: if
    one is invalid, nothing is sent. Tasks of one queue go in BatchCreateTasks calls of at
    most 100 (``max_workers`` of them at a time); where the service does not implement
    it, each task is sent with CreateTask, ``max_workers`` at a time. When some tasks fail,
    the others are still created and one ``BulkEnqueueError`` lists every failure and
    keeps the names of the successes.
    """
    _check_count("max_workers", max_workers)
    plan = _plan(_prepare_all(items, settings))
    tasks_client = _client_module(plan)
    if tasks_client is None:
        return plan.result()
    batched, single = _split(plan)
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        running: list[tuple[_Batch, Future[list[Outcome] | str]]] = [
            (batch, pool.submit(_send_batch, batch, tasks_client)) for batch in batched
        ]
        for batch, future in running:
            try:
                step = future.result()
            except Exception as exc:
                step = [_unexpected(exc)] * len(batch.specs)
            if isinstance(step, str):
                single.append(batch)
                continue
            for index, outcome in zip(batch.indexes, step, strict=True):
                plan.settle(index, outcome)
        # Each task's budget starts when its turn comes, not when the bulk call began.
        tasks = [
            (index, pool.submit(lambda s, c: send(s, c, time.monotonic()), spec, batch.settings))
            for batch in single
            for index, spec in zip(batch.indexes, batch.specs, strict=True)
        ]
        for index, task in tasks:
            try:
                plan.settle(index, task.result())
            except DispatchError as exc:
                plan.settle(index, exc)
            except Exception as exc:
                plan.settle(index, _unexpected(exc))
    return plan.result()


async def enqueue_many_async(
    items: Iterable[Item],
    *,
    max_concurrency: int = 8,
    settings: DispatchSettings | None = None,
) -> list[str]:
    """``enqueue_many`` for ``async def`` code: at most ``max_concurrency`` calls in flight.

    Same items, validation, batches, fallback and ``BulkEnqueueError``; the calls run on
    the event loop's ``CloudTasksAsyncClient``. Cancelling it cancels every call in flight.
    """
    _check_count("max_concurrency", max_concurrency)
    plan = _plan(_prepare_all(items, settings))
    if not plan.batches:
        return plan.result()
    tasks_client = await client_module_async(log_fields(plan.batches[0].specs[0]))
    batched, single = _split(plan)
    gate = asyncio.Semaphore(max_concurrency)

    async def one_batch(batch: _Batch) -> list[Outcome] | str:
        async with gate:
            return await _send_batch_async(batch, tasks_client)

    async def one_task(spec: TaskSpec, item_settings: DispatchSettings) -> str:
        async with gate:
            # Each task's budget starts when its turn comes, not when the bulk call began.
            return await send_async(spec, item_settings, time.monotonic())

    steps = await asyncio.gather(*(one_batch(batch) for batch in batched), return_exceptions=True)
    for batch, step in zip(batched, steps, strict=True):
        if isinstance(step, BaseException) and not isinstance(step, Exception):
            raise step  # cancelled, or KeyboardInterrupt: not an item's outcome
        if isinstance(step, str):
            single.append(batch)
            continue
        outcomes = [_unexpected(step)] * len(batch.specs) if isinstance(step, Exception) else step
        for index, outcome in zip(batch.indexes, outcomes, strict=True):
            plan.settle(index, outcome)
    pairs = [
        (index, spec, batch.settings)
        for batch in single
        for index, spec in zip(batch.indexes, batch.specs, strict=True)
    ]
    results = await asyncio.gather(
        *(one_task(spec, item_settings) for _, spec, item_settings in pairs),
        return_exceptions=True,
    )
    for (index, _, _), result in zip(pairs, results, strict=True):
        if isinstance(result, (DispatchError, str)):
            plan.settle(index, result)
        elif isinstance(result, Exception):
            plan.settle(index, _unexpected(result))
        else:
            raise result
    return plan.result()
