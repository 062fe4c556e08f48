"""``/api/tasks/transcribe``: write the transcript, then ask for the assembly.

Before the refactor this started a ``multiprocessing.Process`` per episode from inside the
web worker; the work now runs in the task request itself, with Cloud Tasks retrying it.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException

from app.api.services.episodes.assembler import request_assembly
from app.worker.engine import EngineUnavailable, transcribe
from app.worker.tasks._common import EpisodeTask, TaskContext, task_context

router = APIRouter()
_log = structlog.get_logger("podcast_app.worker")


@router.post("/transcribe")
def transcribe_episode(
    body: EpisodeTask, ctx: Annotated[TaskContext, Depends(task_context)]
) -> dict[str, Any]:
    delivery = ctx.delivery
    fields = {"task": ctx.task_name, "episode_id": body.episode_id, "retry": delivery.retry_count}
    episode = ctx.db.get_episode(body.episode_id)
    if episode is None:
        # 2xx: retrying cannot make a deleted episode appear.
        _log.warning("worker.transcribe.unknown_episode", **fields)
        return {"status": "unknown-episode"}
    if ctx.db.is_completed(ctx.task_name):
        ctx.db.record_attempt(
            episode.id, "transcribe", ctx.task_name, delivery.retry_count, "duplicate"
        )
        outcome = "duplicate"
    else:
        _log.info("worker.transcribe.start", **fields)
        try:
            text = transcribe(
                episode.title,
                episode.audio_url,
                attempt=delivery.retry_count,
                flaky=ctx.settings.flaky_transcribe,
            )
        except EngineUnavailable as exc:
            ctx.db.record_attempt(
                episode.id, "transcribe", ctx.task_name, delivery.retry_count, "failed"
            )
            _log.warning("worker.transcribe.failed", **fields, error=str(exc))
            # Any non-2xx makes Cloud Tasks retry with backoff.
            raise HTTPException(503, "transcription engine unavailable") from None
        applied = ctx.db.complete_task(
            ctx.task_name,
            "transcribe",
            episode.id,
            delivery.retry_count,
            transcript=text,
            status="transcribed",
        )
        outcome = "done" if applied else "duplicate"
    # Also on a duplicate: the delivery that did the work may have failed before this line.
    # The task id is derived from ours, so asking twice still makes one assembly task.
    follow_up = request_assembly(episode.id, key=delivery.task_name)
    _log.info(
        f"worker.transcribe.{outcome}",
        **fields,
        assemble_task=follow_up.name,
        assemble_created=follow_up.created,
    )
    return {"status": outcome, "assemble_task": follow_up.name}
