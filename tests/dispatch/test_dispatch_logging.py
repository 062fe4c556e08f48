"""dispatch logs through structlog, under whatever configuration the application chose."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import structlog
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from dispatch import (
    DispatchConfigError,
    DispatchSettings,
    DuplicateTaskError,
    TaskCreationError,
    enqueue_http_task,
)
from dispatch.emulator import Emulator

QUEUE_PATH = "projects/taskguard-test/locations/us-central1/queues/default"


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


# --- failures under the application's stdlib configuration, with secrets around --------

SECRETS = ("payload-secret-1", "header-secret-2", "query-secret-3", "token-secret-4")


@pytest.mark.usefixtures("stdlib_structlog")
def test_failure_events_reach_stdlib_without_secrets(
    caplog: pytest.LogCaptureFixture,
    cloud_tasks_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG, logger="dispatch")
    monkeypatch.setenv("TASKS_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("TASKS_SERVICE_ACCOUNT_EMAIL", "tasks@p.iam.gserviceaccount.com")
    with grpc.insecure_channel(cloud_tasks_emulator.address) as channel:
        client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        client.pause_queue(name=QUEUE_PATH)
    quick = DispatchSettings.from_env(retry_budget=0.3, initial_backoff=0.01, max_backoff=0.02)
    payload = {"password": SECRETS[0], "nested": [{"token": SECRETS[3]}]}
    kwargs: dict[str, Any] = {"headers": {"X-Api-Key": SECRETS[1]}, "settings": quick}
    path = f"/tasks/x?token={SECRETS[2]}"

    cloud_tasks_emulator.fail_next(1)
    enqueue_http_task(path, payload, task_id="t-1", **kwargs)
    with pytest.raises(DuplicateTaskError):
        enqueue_http_task(path, payload, task_id="t-1", **kwargs)
    cloud_tasks_emulator.fail_next(1, grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(TaskCreationError):
        enqueue_http_task(path, payload, **kwargs)
    with pytest.raises(DispatchConfigError):
        enqueue_http_task(path, payload, headers={"X-Api-Key": SECRETS[1] + "\n"}, settings=quick)
    with pytest.raises(DispatchConfigError):
        enqueue_http_task(path, {"password": SECRETS[0], "bad": {1}}, settings=quick)

    entries = [json.loads(r.getMessage()) for r in caplog.records if r.name == "dispatch"]
    assert [e["event"] for e in entries] == [
        "tasks.enqueue_http_task.start",
        "tasks.enqueue_http_task.retry",
        "tasks.enqueue_http_task.created",
        "tasks.enqueue_http_task.start",
        "tasks.enqueue_http_task.duplicate",
        "tasks.enqueue_http_task.start",
        "tasks.enqueue_http_task.create_failed",
        "tasks.enqueue_http_task.http_request_build_failed",
        "tasks.enqueue_http_task.http_request_build_failed",
    ]
    assert {r.levelname for r in caplog.records if r.name == "dispatch"} == {
        "INFO",
        "WARNING",
        "ERROR",
    }
    for secret in SECRETS:
        assert secret not in caplog.text


def test_a_log_pipeline_that_fails_after_creation_does_not_fail_the_call(
    cloud_tasks_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The task exists once "created" is logged: an exception there would make the caller
    # retry (a second task under a new id) or lose the name.
    monkeypatch.setenv("TASKS_BASE_URL", "http://127.0.0.1:9")
    with grpc.insecure_channel(cloud_tasks_emulator.address) as channel:
        client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        client.pause_queue(name=QUEUE_PATH)

    def explode_on_created(_logger: Any, _method: str, event: dict[str, Any]) -> Any:
        if event["event"] == "tasks.enqueue_http_task.created":
            raise RuntimeError("log pipeline down")
        return event

    saved = structlog.get_config()
    structlog.configure(processors=[explode_on_created, *saved["processors"]])
    try:
        name = enqueue_http_task("/tasks/x", {"v": 1})
        with pytest.raises(RuntimeError, match="log pipeline down"):
            # Failure events still raise: nothing was created, so nothing is lost.
            structlog.get_logger("dispatch").info("tasks.enqueue_http_task.created")
    finally:
        structlog.configure(**saved)
    assert [t.name for t in cloud_tasks_emulator.tasks()] == [name]
