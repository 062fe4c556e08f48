"""Task endpoints, called by Cloud Tasks (protected by the policy).

Every endpoint authenticates the caller, reads the delivery headers with
``dispatch.worker``, and is idempotent per task name: a redelivered task changes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.infrastructure.oidc import require_task_caller
from app.worker.tasks import assemble, notify, transcribe

router = APIRouter(prefix="/api/tasks", dependencies=[Depends(require_task_caller)])
router.include_router(transcribe.router)
router.include_router(assemble.router)
router.include_router(notify.router)
