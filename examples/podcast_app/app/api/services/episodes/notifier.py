"""Telling subscribers an episode is out: a task on ``/api/tasks/notify``.

Before the refactor this imported an HTTP client by name (``importlib.import_module`` of a
setting) and posted inline; the post now happens in the task, with Cloud Tasks retrying it.
"""

from __future__ import annotations

from app.api.services.episodes._enqueue import enqueue_once
from app.infrastructure.tasks_client import TaskRef

NOTIFY_PATH = "/api/tasks/notify"


def request_notification(episode_id: int, *, key: str | None) -> TaskRef:
    return enqueue_once(NOTIFY_PATH, "notify", episode_id, key)
