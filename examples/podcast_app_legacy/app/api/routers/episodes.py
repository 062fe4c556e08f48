"""Episode routes."""

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from app import db, queue

router = APIRouter(prefix="/api/episodes")


class NewEpisode(BaseModel):
    title: str
    audio_url: str


@router.post("", status_code=202)
def publish_episode(body: NewEpisode) -> dict:
    with db.connect() as conn:
        cursor = conn.execute(
            "INSERT INTO episodes (title, audio_url, status) VALUES (?, ?, 'transcribing')",
            (body.title, body.audio_url),
        )
        episode_id = cursor.lastrowid
    # Unnamed task: a client retry of this request enqueues a second transcription.
    queue.enqueue("/api/tasks/transcribe", {"episode_id": episode_id})
    return {"id": episode_id}


@router.get("/{episode_id}")
def get_episode(episode_id: int) -> dict:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT id, title, status, transcript, chapters FROM episodes WHERE id = ?",
            (episode_id,),
        ).fetchone()
    if row is None:
        raise HTTPException(404, "no such episode")
    return dict(zip(("id", "title", "status", "transcript", "chapters"), row))
