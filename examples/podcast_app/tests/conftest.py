"""Fixtures: the app on a fresh SQLite file; tasks are captured by ``enqueued_tasks``.

The taskguard pytest plugin installs the runtime guard before this file is imported, so
every ``app`` module below runs guarded, in the mode pyproject.toml sets ("error").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import Subscriber, settings_for

from app.main import create_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path))) as test_client:
        yield test_client


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with Subscriber() as running:
        yield running
