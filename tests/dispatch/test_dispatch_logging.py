"""dispatch logs through structlog, under whatever configuration the application chose."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from dispatch import DispatchConfigError, DispatchSettings, enqueue_http_task


@pytest.fixture
def stdlib_structlog() -> Iterator[None]:
    """An application that routes structlog through stdlib logging, rendering JSON."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.reset_defaults()


@pytest.mark.usefixtures("stdlib_structlog")
def test_events_reach_stdlib_handlers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dispatch")
    enqueue_http_task(
        "/tasks/x", {"secret": "payload-value-789"}, settings=DispatchSettings(dry_run=True)
    )
    records = [r for r in caplog.records if r.name == "dispatch"]
    assert len(records) == 1
    entry = json.loads(records[0].getMessage())
    assert entry["event"] == "tasks.dry_run"
    assert entry["level"] == "info"
    assert entry["path"] == "/tasks/x"
    assert "payload-value-789" not in caplog.text


@pytest.mark.usefixtures("stdlib_structlog")
def test_stdlib_levels_filter_dispatch_events(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dispatch")
    enqueue_http_task("/tasks/x", settings=DispatchSettings(dry_run=True))
    with pytest.raises(DispatchConfigError):
        enqueue_http_task("/tasks/x", task_id="a b", settings=DispatchSettings(dry_run=True))
    events = [json.loads(r.getMessage())["event"] for r in caplog.records if r.name == "dispatch"]
    assert events == ["tasks.enqueue_http_task.task_build_failed"]
