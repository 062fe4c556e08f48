"""``enqueue_http_task_async``: ``enqueue_http_task`` for ``async def`` code.

Same arguments, validation, dry run, capture, retry policy (``Attempts``), errors and log
events as the sync function; the RPC runs on ``CloudTasksAsyncClient`` (one per event
loop) and the backoff waits with ``asyncio.sleep``, so the event loop keeps serving other
work for the whole call. Cancelling the call cancels the attempt in flight and never
starts another one; ``CancelledError`` propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

from dispatch import _enqueue
from dispatch._enqueue import (
    Attempts,
    begin,
    build_request,
    client_failure_logged,
    load_client_module,
    log_fields,
    log_start,
)
from dispatch._errors import TaskCreationError
from dispatch._settings import DispatchSettings
from dispatch._validate import TaskSpec


async def enqueue_http_task_async(
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
    """Create an HTTP task without blocking the event loop; see ``enqueue_http_task``.

    Returns the task name (or the dry-run name) and raises the same errors. The retry
    budget (``DispatchSettings.retry_budget``) bounds the whole call, backoff included.
    """
    ready = begin(
        path, payload, task_id, schedule_time, delay, dispatch_deadline, headers, queue, settings
    )
    return ready if isinstance(ready, str) else await send_async(*ready)


async def client_module_async(fields: dict[str, Any]) -> ModuleType:
    """The client module; its first import (google-cloud-tasks, grpc: about half a second)
    runs in a thread, so not even the first call stalls the event loop."""
    loaded = _enqueue.loaded_client_module()
    if loaded is not None:
        return loaded
    return await asyncio.to_thread(load_client_module, fields)


async def send_async(spec: TaskSpec, settings: DispatchSettings, started: float) -> str:
    fields = log_fields(spec)
    tasks_client = await client_module_async(fields)
    log_start(fields)
    with client_failure_logged(fields):
        client = await tasks_client.get_async_client(settings)
    request = build_request(tasks_client, spec, fields)
    attempts = Attempts(spec, settings, started, fields)
    in_flight = False
    try:
        while True:
            timeout = attempts.timeout()
            in_flight = True
            try:
                name: str = await tasks_client.create_task_async(
                    client, request, spec, timeout=timeout, attempt=attempts.attempt
                )
            except TaskCreationError as exc:
                in_flight = False
                outcome = attempts.failed(exc)
                if isinstance(outcome, str):
                    return outcome
                await asyncio.sleep(outcome)
                continue
            in_flight = False
            return attempts.created(name)
    except asyncio.CancelledError:
        attempts.cancelled(in_flight=in_flight)
        raise
