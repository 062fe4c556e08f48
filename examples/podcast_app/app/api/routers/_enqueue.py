"""Enqueueing from ``async def`` routes, without blocking the event loop.

The async twin of the services' ``enqueue_once``: the task id comes from the same
``task_id_for`` rule, and a key that names an existing task is not an error.
"""

from __future__ import annotations

from dispatch import DuplicateTaskError

from app.infrastructure.tasks_client import TaskRef, enqueue_http_task_async, task_id_for


async def enqueue_once_async(path: str, kind: str, episode_id: int, key: str | None) -> TaskRef:
    """Enqueue ``kind`` for the episode; with a ``key``, at most one task per key."""
    task_id = task_id_for(kind, f"{episode_id}:{key}") if key is not None else None
    try:
        name = await enqueue_http_task_async(path, {"episode_id": episode_id}, task_id=task_id)
    except DuplicateTaskError as exc:
        return TaskRef(name=exc.task_name or "", created=False)
    return TaskRef(name=name, created=True)
