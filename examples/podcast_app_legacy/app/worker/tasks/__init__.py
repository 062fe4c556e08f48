"""Task endpoints."""

from fastapi import APIRouter

from app.worker.tasks import assemble, transcribe

router = APIRouter(prefix="/api/tasks")
router.include_router(transcribe.router)
router.include_router(assemble.router)
