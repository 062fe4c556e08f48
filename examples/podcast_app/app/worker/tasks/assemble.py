"""``/api/tasks/assemble``: build the episode's chapters from its transcript."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException

from app.api.services.episodes.assembler import chapters_for
from app.api.services.episodes.notifier import request_notification
from app.worker.tasks._common import EpisodeTask, TaskContext, task_context

router = APIRouter()
_log = structlog.get_logger("podcast_app.worker")


@router.post("/assemble")
def assemble_episode(
    body: EpisodeTask, ctx: Annotated[TaskContext, Depends(task_context)]
) -> dict[str, Any]:
    delivery = ctx.delivery
    fields = {"task": ctx.task_name, "episode_id": body.episode_id, "retry": delivery.retry_count}
    episode = ctx.db.get_episode(body.episode_id)
    if episode is None:
        _log.warning("worker.assemble.unknown_episode", **fields)
        return {"status": "unknown-episode"}
    if episode.transcript is None:
        # Not ready yet: a non-2xx answer asks Cloud Tasks to try again later.
        _log.warning("worker.assemble.not_ready", **fields)
        raise HTTPException(409, "no transcript yet")
    _log.info("worker.assemble.start", **fields)
    applied = ctx.db.complete_task(
        ctx.task_name,
        "assemble",
        episode.id,
        delivery.retry_count,
        chapters=chapters_for(episode.transcript),
        status="assembled",
    )
    outcome = "done" if applied else "duplicate"
    result: dict[str, Any] = {"status": outcome}
    if ctx.settings.webhook_url is not None:
        # Also on a duplicate, as transcribe does for its successor: one task either way.
        follow_up = request_notification(episode.id, key=delivery.task_name)
        result["notify_task"] = follow_up.name
    _log.info(f"worker.assemble.{outcome}", **fields, **result)
    return result
