"""Transcription (TG002: a process started from inside the web worker).

The request returns at once and the child does the work: nothing retries it when it dies,
the server's shutdown kills it half-way, and a fork of a process holding a gRPC client
breaks that client.
"""

import multiprocessing

from fastapi import APIRouter
from pydantic import BaseModel

from app import db
from app.api.services.episodes.assembler import request_assembly

router = APIRouter()


class EpisodeTask(BaseModel):
    episode_id: int


def _transcribe(episode_id: int) -> None:
    with db.connect() as conn:
        (title,) = conn.execute("SELECT title FROM episodes WHERE id = ?", (episode_id,)).fetchone()
        conn.execute(
            "UPDATE episodes SET transcript = ?, status = 'transcribed' WHERE id = ?",
            (f"{title}. welcome to the show", episode_id),
        )
    request_assembly(episode_id)


@router.post("/transcribe")
def transcribe_episode(body: EpisodeTask) -> dict:
    multiprocessing.Process(target=_transcribe, args=(body.episode_id,)).start()
    return {"status": "started"}
