"""What every task endpoint needs: the delivery, its identity, the payload."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.worker import TaskDelivery, TaskHeadersError, parse_task_headers
from fastapi import HTTPException, Request
from pydantic import BaseModel

from app.infrastructure.db import Database
from app.settings import Settings


class EpisodeTask(BaseModel):
    episode_id: int


@dataclass(frozen=True)
class TaskContext:
    delivery: TaskDelivery
    db: Database
    settings: Settings

    @property
    def task_name(self) -> str:
        # Task ids are unique per queue only.
        return f"{self.delivery.queue_name}/{self.delivery.task_name}"


def task_context(request: Request) -> TaskContext:
    try:
        delivery = parse_task_headers(request.headers.raw)
    except TaskHeadersError as exc:
        # Not a Cloud Tasks delivery (authenticated, but malformed): refuse it.
        raise HTTPException(400, f"bad task headers: {exc.header}") from None
    return TaskContext(delivery, request.app.state.db, request.app.state.settings)
