"""Fixtures: the app on a fresh SQLite file.

Two ways to test task dispatch: ``enqueued_tasks`` records tasks instead of sending them
(with ``client``, the app in a TestClient); ``task_worker`` with ``cloud_tasks_emulator``
serves the app on loopback and lets the emulator deliver each task to it, OIDC token
included (``task_worker_app`` below builds that app).

The taskguard pytest plugin installs the runtime guard before this file is imported, so
every ``app`` module below runs guarded, in the mode pyproject.toml sets ("error").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dispatch.emulator import Emulator
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers import TASKS_EMAIL, Subscriber, pem_certs_url, settings_for

from app.main import create_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path))) as test_client:
        yield test_client


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with Subscriber() as running:
        yield running


@pytest.fixture
def task_worker_app(
    tmp_path: Path, cloud_tasks_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> FastAPI:
    """The app ``task_worker`` serves, checking tokens as in production.

    ``task_worker`` sets ``TASKS_BASE_URL`` to its own URL before this runs, so the app can
    expect it as the token audience (dispatch's default audience); tasks are sent as
    ``TASKS_EMAIL``, and the tokens are checked against the emulator's signing key.
    """
    monkeypatch.setenv("TASKS_SERVICE_ACCOUNT_EMAIL", TASKS_EMAIL)
    settings = settings_for(
        tmp_path,
        worker_auth=True,
        oidc_audience=os.environ["TASKS_BASE_URL"],
        oidc_email=TASKS_EMAIL,
        oidc_certs_url=pem_certs_url(cloud_tasks_emulator),
    )
    return create_app(settings)
