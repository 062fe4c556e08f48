"""Episode routes: publish an episode, read its state, ask for a new assembly."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from app.api.routers._enqueue import enqueue_once_async
from app.api.services.episodes.assembler import ASSEMBLE_PATH
from app.api.services.episodes.transcription import TRANSCRIBE_PATH
from app.infrastructure.db import Database, IdempotencyConflict

router = APIRouter(prefix="/api/episodes")

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


class NewEpisode(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    audio_url: str = Field(min_length=1, max_length=2000)


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


@router.post("", status_code=202)
async def publish_episode(
    body: NewEpisode, request: Request, response: Response, key: IdempotencyKey = None
) -> dict[str, Any]:
    """Store the episode and enqueue its transcription; the rest happens in tasks.

    With an ``Idempotency-Key``, repeating the request returns the same episode and
    enqueues nothing new: the task id is derived from the key. Async: the enqueue awaits
    Cloud Tasks without holding a worker thread; SQLite still blocks, so it runs in the
    thread pool.
    """
    try:
        episode, created = await run_in_threadpool(
            _db(request).create_episode, body.title, body.audio_url, key
        )
    except IdempotencyConflict as exc:
        raise HTTPException(
            409, f"Idempotency-Key already used for episode {exc.episode_id}"
        ) from None
    # Re-enqueue on a repeat too: if the first request died between the insert and the
    # enqueue, this is what creates the task; otherwise Cloud Tasks answers "exists".
    task = await enqueue_once_async(TRANSCRIBE_PATH, "transcribe", episode.id, key)
    if not created:
        response.status_code = 200
    return {
        "episode": episode.as_dict(),
        "task": {"name": task.name, "created": task.created},
    }


@router.get("/{episode_id}")
def get_episode(episode_id: int, request: Request) -> dict[str, Any]:
    episode = _db(request).get_episode(episode_id)
    if episode is None:
        raise HTTPException(404, "no such episode")
    return episode.as_dict()


@router.post("/{episode_id}/assemble", status_code=202)
async def reassemble(
    episode_id: int, request: Request, key: IdempotencyKey = None
) -> dict[str, Any]:
    """Assemble the episode again (after an edit of its transcript, say)."""
    episode = await run_in_threadpool(_db(request).get_episode, episode_id)
    if episode is None:
        raise HTTPException(404, "no such episode")
    if episode.transcript is None:
        raise HTTPException(409, "the episode has no transcript yet")
    task = await enqueue_once_async(ASSEMBLE_PATH, "assemble", episode_id, key)
    return {"task": {"name": task.name, "created": task.created}}
