"""Recording tasks instead of sending them (``dispatch.testing.capture_tasks``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, overload

from dispatch._errors import DuplicateTaskError
from dispatch._validate import TaskSpec

PLACEHOLDER = "capture"


@dataclass(frozen=True)
class CapturedTask:
    """A task ``enqueue_http_task`` would have sent.

    ``url`` is the full URL when ``TASKS_BASE_URL`` is set, otherwise just the path.
    ``name`` uses the configured queue, with ``capture`` standing in for any unset part.
    """

    name: str
    queue: str
    task_id: str
    path: str
    url: str
    body: bytes
    headers: Mapping[str, str] = field(hash=False)
    schedule_time: datetime | None = None
    dispatch_deadline: timedelta | None = None
    oidc_service_account_email: str | None = None
    oidc_audience: str | None = None

    @property
    def payload(self) -> Any:
        """The JSON payload, decoded from ``body`` (a fresh copy on every access)."""
        return json.loads(self.body)


class TaskCapture(Sequence[CapturedTask]):
    """The tasks recorded by one ``capture_tasks()`` block, in the order they were enqueued.

    Thread-safe: application code may enqueue from worker threads.
    """

    def __init__(self) -> None:
        self._tasks: list[CapturedTask] = []
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def record(self, spec: TaskSpec) -> str:
        queue = spec.queue or PLACEHOLDER
        queue_path = spec.queue_path or (
            f"projects/{PLACEHOLDER}/locations/{PLACEHOLDER}/queues/{queue}"
        )
        name = f"{queue_path}/tasks/{spec.task_id}"
        task = CapturedTask(
            name=name,
            queue=queue,
            task_id=spec.task_id,
            path=spec.path,
            url=spec.url,
            body=spec.body,
            headers=dict(spec.headers),
            schedule_time=spec.schedule_time,
            dispatch_deadline=spec.dispatch_deadline,
            oidc_service_account_email=spec.oidc_service_account_email,
            oidc_audience=spec.oidc_audience,
        )
        with self._lock:
            # Same rule as Cloud Tasks: a task id is accepted once.
            if name in self._names:
                raise DuplicateTaskError(task_name=name, queue=queue)
            self._names.add(name)
            self._tasks.append(task)
        return name

    @overload
    def __getitem__(self, index: int) -> CapturedTask: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[CapturedTask]: ...

    def __getitem__(self, index: int | slice) -> CapturedTask | Sequence[CapturedTask]:
        with self._lock:
            return self._tasks[index]

    def __len__(self) -> int:
        with self._lock:
            return len(self._tasks)

    def __iter__(self) -> Iterator[CapturedTask]:
        with self._lock:
            snapshot = list(self._tasks)
        return iter(snapshot)

    def __repr__(self) -> str:
        return f"<TaskCapture {len(self)} task(s): {self.paths()!r}>"

    def paths(self) -> list[str]:
        """The path of every recorded task, in order."""
        return [task.path for task in self]

    def for_path(self, path: str) -> list[CapturedTask]:
        """The recorded tasks sent to ``path`` (query string included in the comparison)."""
        return [task for task in self if task.path == path]

    def clear(self) -> None:
        """Forget every recorded task (and the task ids already used)."""
        with self._lock:
            self._tasks.clear()
            self._names.clear()


_active: list[TaskCapture] = []
_active_lock = threading.Lock()


def current() -> TaskCapture | None:
    """The innermost active capture, if any."""
    # Deliberately process-wide rather than a contextvar: test clients run the app in
    # other threads, and those tasks must be captured too.
    if not _active:
        return None
    with _active_lock:
        return _active[-1] if _active else None


@contextmanager
def capture_tasks() -> Iterator[TaskCapture]:
    """Record tasks instead of sending them, for the duration of the block.

    Validation runs exactly as for real dispatch; missing queue settings are tolerated.
    Nested blocks record into the innermost one only.
    """
    capture = TaskCapture()
    with _active_lock:
        _active.append(capture)
    try:
        yield capture
    finally:
        with _active_lock:
            _active.remove(capture)
