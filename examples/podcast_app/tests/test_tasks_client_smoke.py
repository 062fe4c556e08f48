"""Smoke test of the service's one door to task dispatch, ``app.infrastructure.tasks_client``.

Dry run, routing (every service sends through it), errors (raised, never a silent
fallback), and the log events the runbook looks for.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import dispatch
import grpc
import pytest
import structlog
from dispatch.emulator import Emulator
from dispatch.testing import TaskCapture, TaskWorker

from app.api.services.episodes.assembler import request_assembly
from app.api.services.episodes.transcription import request_transcription
from app.infrastructure import tasks_client

TASKS_VARIABLES = (
    "TASKS_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "TASKS_LOCATION",
    "TASKS_QUEUE",
    "TASKS_BASE_URL",
    "TASKS_EMULATOR_HOST",
    "TASKS_SERVICE_ACCOUNT_EMAIL",
    "TASKS_OIDC_AUDIENCE",
    "TASKS_DRY_RUN",
)


@pytest.fixture
def no_tasks_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TASKS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_tasks_config")
def test_dry_run_needs_no_configuration_and_returns_a_dated_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TASKS_DRY_RUN", "true")
    with structlog.testing.capture_logs() as logs:
        name = tasks_client.enqueue_http_task("/api/tasks/transcribe", {"filename": "test.wav"})

    match = re.fullmatch(r"dry-run-(.+)", name)
    assert match is not None, name
    assert datetime.fromisoformat(match.group(1)).tzinfo is not None
    assert [(e["event"], e["log_level"]) for e in logs] == [("tasks.dry_run", "info")]
    assert logs[0]["path"] == "/api/tasks/transcribe"
    assert "test.wav" not in repr(logs)  # sizes and keys are logged, never the payload


def test_the_door_is_dispatch_itself_not_a_wrapper() -> None:
    # A wrapper could grow a fallback of its own (a direct HTTP call, a thread): there is none.
    assert tasks_client.enqueue_http_task is dispatch.enqueue_http_task
    assert tasks_client.DuplicateTaskError is dispatch.DuplicateTaskError


def test_every_service_sends_through_tasks_client(
    monkeypatch: pytest.MonkeyPatch, enqueued_tasks: TaskCapture
) -> None:
    seen: list[str] = []
    real = tasks_client.enqueue_http_task

    def watched(path: str, payload: Any = None, **kwargs: Any) -> str:
        seen.append(path)
        return real(path, payload, **kwargs)

    monkeypatch.setattr(tasks_client, "enqueue_http_task", watched)

    request_transcription(1, key="smoke")
    request_assembly(1, key="smoke")

    assert seen == ["/api/tasks/transcribe", "/api/tasks/assemble"]
    assert enqueued_tasks.paths() == seen


@pytest.mark.usefixtures("no_tasks_config")
def test_missing_configuration_is_an_error_from_the_service_not_a_fallback() -> None:
    with (
        structlog.testing.capture_logs() as logs,
        pytest.raises(dispatch.DispatchConfigError) as caught,
    ):
        request_transcription(2, key="unconfigured")

    message = str(caught.value)
    for name in ("TASKS_PROJECT", "TASKS_LOCATION", "TASKS_QUEUE", "TASKS_BASE_URL"):
        assert name in message  # every one at once
    assert "TASKS_DRY_RUN=true" in message
    assert [e["event"] for e in logs] == ["tasks.enqueue_http_task.config_missing"]


def test_a_refused_task_is_an_error_from_the_service(
    task_worker: TaskWorker, cloud_tasks_emulator: Emulator
) -> None:
    cloud_tasks_emulator.fail_next(1, grpc.StatusCode.PERMISSION_DENIED)

    with pytest.raises(dispatch.TaskCreationError) as caught:
        request_transcription(3, key="refused")

    assert caught.value.code == "PERMISSION_DENIED"
    assert cloud_tasks_emulator.tasks() == []


def test_a_real_send_logs_start_at_info_then_created(
    task_worker: TaskWorker, cloud_tasks_emulator: Emulator
) -> None:
    with structlog.testing.capture_logs() as logs:
        ref = request_transcription(4, key="logged")

    assert ref.created
    events = [(e["event"], e["log_level"]) for e in logs if e["event"].startswith("tasks.")]
    assert events == [
        ("tasks.enqueue_http_task.start", "info"),
        ("tasks.enqueue_http_task.created", "info"),
    ]
    assert logs[-1]["task_name"] == ref.name
    # The delivery reaches the served app (episode 4 does not exist: a 2xx "unknown").
    (delivery,) = cloud_tasks_emulator.wait_for_deliveries(1, timeout=30)
    assert delivery.status == 200
