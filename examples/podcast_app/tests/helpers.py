"""Helpers shared by the tests: settings for a test app, Cloud Tasks delivery headers."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from app.settings import Settings

QUEUE = "podcast"


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for an app on its own database, worker authentication off unless overridden."""
    base = Settings(
        database=str(tmp_path / "podcast.sqlite3"),
        worker_auth=False,
        oidc_audience=None,
        oidc_email=None,
        oidc_certs_url="http://127.0.0.1:9/unused",
        flaky_transcribe=False,
        log_format="console",
    )
    return dataclasses.replace(base, **overrides)


def task_headers(task_id: str, *, retry: int = 0) -> dict[str, str]:
    """The headers Cloud Tasks sets on a delivery."""
    return {
        "X-CloudTasks-QueueName": QUEUE,
        "X-CloudTasks-TaskName": task_id,
        "X-CloudTasks-TaskRetryCount": str(retry),
        "X-CloudTasks-TaskExecutionCount": str(retry),
        "X-CloudTasks-TaskETA": f"{time.time():.6f}",
    }


def task_id_of(name: str) -> str:
    return name.rsplit("/", 1)[1]
