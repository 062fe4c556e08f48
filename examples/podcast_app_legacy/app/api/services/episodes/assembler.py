"""Assembling an episode by calling the worker directly (TG002: httpx in a protected package).

The request blocks the caller for the whole assembly, is lost when the worker restarts,
and is never retried.
"""

import httpx

from app import settings


def request_assembly(episode_id: int) -> None:
    response = httpx.post(
        settings.WORKER_URL + "/api/tasks/assemble", json={"episode_id": episode_id}, timeout=600
    )
    response.raise_for_status()


def chapters_for(transcript: str) -> int:
    return max(1, -(-len(transcript.split()) // 40))
