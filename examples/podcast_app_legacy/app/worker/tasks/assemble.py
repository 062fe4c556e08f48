"""Assembly (no auth: anyone who finds the URL can trigger it)."""

from fastapi import APIRouter
from pydantic import BaseModel

from app import db
from app.api.services.episodes.assembler import chapters_for
from app.api.services.episodes.notifier import notify_published

router = APIRouter()


class EpisodeTask(BaseModel):
    episode_id: int


@router.post("/assemble")
def assemble_episode(body: EpisodeTask) -> dict:
    with db.connect() as conn:
        (transcript,) = conn.execute(
            "SELECT transcript FROM episodes WHERE id = ?", (body.episode_id,)
        ).fetchone()
        conn.execute(
            "UPDATE episodes SET chapters = ?, status = 'assembled' WHERE id = ?",
            (chapters_for(transcript), body.episode_id),
        )
    notify_published(body.episode_id)
    return {"status": "assembled"}
