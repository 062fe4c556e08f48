"""Assembling an episode (audio, chapters, feed entry) once its transcript exists.

Before the refactor this module POSTed to the worker with httpx: the request blocked the
caller, was lost when the worker was down, and was never retried. Now it is a task.
"""

from __future__ import annotations

from app.api.services.episodes._enqueue import enqueue_once
from app.infrastructure.tasks_client import TaskRef

ASSEMBLE_PATH = "/api/tasks/assemble"


def request_assembly(episode_id: int, *, key: str | None) -> TaskRef:
    return enqueue_once(ASSEMBLE_PATH, "assemble", episode_id, key)


def chapters_for(transcript: str) -> int:
    """One chapter per started 40 words: a stand-in for the real audio assembly."""
    return max(1, -(-len(transcript.split()) // 40))
