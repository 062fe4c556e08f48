"""The FastAPI application: ``uvicorn app.main:app``."""

from fastapi import FastAPI

from app.api.routers import episodes, media
from app.worker.tasks import assemble, transcribe

app = FastAPI(title="podcast_app (legacy)")
app.include_router(episodes.router)
app.include_router(media.router)
app.include_router(transcribe.router, prefix="/api/tasks")
app.include_router(assemble.router, prefix="/api/tasks")
