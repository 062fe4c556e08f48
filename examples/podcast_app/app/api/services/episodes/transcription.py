"""Asking for an episode's transcript: a task on ``/api/tasks/transcribe``."""

from __future__ import annotations

from app.api.services.episodes._enqueue import enqueue_once
from app.infrastructure.tasks_client import TaskRef

TRANSCRIBE_PATH = "/api/tasks/transcribe"


def request_transcription(episode_id: int, *, key: str | None) -> TaskRef:
    return enqueue_once(TRANSCRIBE_PATH, "transcribe", episode_id, key)
