"""Sending an episode task once, however often it is asked for."""

from __future__ import annotations

from app.infrastructure import tasks_client
from app.infrastructure.tasks_client import TaskRef, task_id_for


def enqueue_once(path: str, kind: str, episode_id: int, key: str | None) -> TaskRef:
    """Enqueue ``kind`` for the episode; with a ``key``, at most one task per key.

    A key that names an existing task is not an error: the caller's request was already
    turned into that task (a client retry, or a redelivered task re-asking for its successor).
    """
    task_id = task_id_for(kind, f"{episode_id}:{key}") if key is not None else None
    try:
        # Through the module, looked up at each call: the one door, and a test can watch it.
        name = tasks_client.enqueue_http_task(path, {"episode_id": episode_id}, task_id=task_id)
    except tasks_client.DuplicateTaskError as exc:
        return TaskRef(name=exc.task_name or "", created=False)
    return TaskRef(name=name, created=True)
