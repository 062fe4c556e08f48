"""``/api/tasks/notify``: post the "published" event to the subscriber's webhook."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException

from app.infrastructure.webhooks import WebhookFailed, post_event
from app.worker.tasks._common import EpisodeTask, TaskContext, task_context

router = APIRouter()
_log = structlog.get_logger("podcast_app.worker")


@router.post("/notify")
def notify_subscribers(
    body: EpisodeTask, ctx: Annotated[TaskContext, Depends(task_context)]
) -> dict[str, Any]:
    delivery = ctx.delivery
    fields = {"task": ctx.task_name, "episode_id": body.episode_id, "retry": delivery.retry_count}
    url = ctx.settings.webhook_url
    episode = ctx.db.get_episode(body.episode_id)
    if episode is None or url is None:
        _log.warning("worker.notify.nothing_to_do", **fields)
        return {"status": "nothing-to-do"}
    if ctx.db.is_completed(ctx.task_name):
        ctx.db.record_attempt(
            episode.id, "notify", ctx.task_name, delivery.retry_count, "duplicate"
        )
        outcome = "duplicate"
    else:
        try:
            post_event(url, {"event": "episode.published", "episode_id": episode.id})
        except WebhookFailed as exc:
            ctx.db.record_attempt(
                episode.id, "notify", ctx.task_name, delivery.retry_count, "failed"
            )
            _log.warning("worker.notify.failed", **fields, subscriber_status=exc.status)
            raise HTTPException(503, "subscriber did not accept the event") from None
        applied = ctx.db.complete_task(
            ctx.task_name, "notify", episode.id, delivery.retry_count, status="published"
        )
        outcome = "done" if applied else "duplicate"
    _log.info(f"worker.notify.{outcome}", **fields)
    return {"status": outcome}
