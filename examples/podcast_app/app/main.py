"""The FastAPI application: ``uvicorn --factory app.main:serve``.

One process serves the API and the task endpoints (Cloud Tasks calls them back over HTTP);
a larger deployment runs the same app twice behind different ingress rules.
"""

from __future__ import annotations

from fastapi import FastAPI

from app.api.routers import episodes, health
from app.infrastructure.db import Database
from app.infrastructure.logs import configure_logging
from app.infrastructure.oidc import OidcVerifier
from app.settings import Settings
from app.worker import tasks


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="podcast_app")
    app.state.settings = settings
    app.state.db = Database(settings.database)
    app.state.task_verifier = (
        OidcVerifier(
            audience=settings.oidc_audience or "",
            email=settings.oidc_email or "",
            certs_url=settings.oidc_certs_url,
        )
        if settings.worker_auth
        else None
    )
    app.include_router(health.router)
    app.include_router(episodes.router)
    app.include_router(tasks.router)
    return app


def serve() -> FastAPI:
    """The uvicorn factory: settings from the environment, logs configured."""
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    return create_app(settings)
