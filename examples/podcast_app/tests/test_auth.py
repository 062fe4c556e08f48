"""Task endpoints are closed unless the caller proves to be our task queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import settings_for, task_headers

from app.main import create_app
from app.settings import Settings, SettingsError


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c"],
    ids=["missing", "basic", "empty-bearer", "garbage", "bad-segments"],
)
def test_task_endpoints_reject_requests_without_a_valid_token(
    tmp_path: Path, authorization: str | None
) -> None:
    settings = settings_for(
        tmp_path,
        worker_auth=True,
        oidc_audience="https://podcast.example",
        oidc_email="tasks@podcast.iam.gserviceaccount.com",
    )
    headers = task_headers("t1")
    if authorization is not None:
        headers["Authorization"] = authorization
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/tasks/transcribe", json={"episode_id": 1}, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_worker_auth_is_on_by_default_and_refuses_to_start_half_configured() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"TASKS_BASE_URL": "https://podcast.example"})
    assert caught.value.name == "TASKS_SERVICE_ACCOUNT_EMAIL"


def test_worker_auth_takes_the_dispatch_settings() -> None:
    settings = Settings.from_env(
        {
            "TASKS_BASE_URL": "https://podcast.example",
            "TASKS_SERVICE_ACCOUNT_EMAIL": "tasks@podcast.iam.gserviceaccount.com",
        }
    )
    assert settings.worker_auth
    assert settings.oidc_audience == "https://podcast.example"
    assert Settings.from_env({"PODCAST_WORKER_AUTH": "off"}).worker_auth is False
    with pytest.raises(SettingsError):
        Settings.from_env({"PODCAST_WORKER_AUTH": "maybe"})
