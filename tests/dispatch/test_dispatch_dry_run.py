"""TASKS_DRY_RUN: validate and log, send nothing, need nothing (not even google-cloud-tasks)."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
import structlog
from dispatch_support import BLOCK_GOOGLE, make_settings, run_python

from dispatch import DispatchConfigError, DispatchSettings, enqueue_http_task


def test_dry_run_returns_unique_timestamped_names() -> None:
    settings = DispatchSettings(dry_run=True)
    names = [enqueue_http_task("/tasks/x", {"i": i}, settings=settings) for i in range(500)]
    assert len(set(names)) == 500
    for name in names:
        # One shape for every name: microseconds always shown, so text order is time order.
        assert re.fullmatch(r"dry-run-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", name)
    for name in names[:5]:
        stamp = datetime.fromisoformat(name.removeprefix("dry-run-"))
        assert stamp.tzinfo is not None
    assert names == sorted(names)


def test_dry_run_needs_no_project_queue_or_base_url() -> None:
    name = enqueue_http_task("/tasks/x", {"a": 1}, settings=DispatchSettings(dry_run=True))
    assert name.startswith("dry-run-")


def test_dry_run_still_validates() -> None:
    settings = DispatchSettings(dry_run=True)
    with pytest.raises(DispatchConfigError):
        enqueue_http_task("//evil.example.com/x", settings=settings)
    with pytest.raises(DispatchConfigError):
        enqueue_http_task("/tasks/x", task_id="no spaces", settings=settings)
    with pytest.raises(DispatchConfigError):
        enqueue_http_task("/tasks/x", {1, 2}, settings=settings)


def test_dry_run_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKS_DRY_RUN", "Yes")
    for var in ("TASKS_PROJECT", "TASKS_QUEUE", "TASKS_BASE_URL", "TASKS_EMULATOR_HOST"):
        monkeypatch.delenv(var, raising=False)
    assert enqueue_http_task("/tasks/x").startswith("dry-run-")


def test_dry_run_logs_path_and_task_id_but_no_payload() -> None:
    settings = make_settings(dry_run=True)
    with structlog.testing.capture_logs() as logs:
        name = enqueue_http_task(
            "/tasks/transcribe?token=s3cr3t-query",
            {"secret": "payload-value-123"},
            task_id="episode-42",
            headers={"X-Api-Key": "header-value-456"},
            settings=settings,
        )
    assert len(logs) == 1
    entry = logs[0]
    assert entry["event"] == "tasks.dry_run"
    assert entry["path"] == "/tasks/transcribe"
    assert entry["task_id"] == "episode-42"
    assert entry["queue"] == "default"
    assert entry["payload_size"] == len(b'{"secret":"payload-value-123"}')
    assert entry["dry_run_name"] == name
    text = json.dumps(logs, default=str)
    for secret in ("payload-value-123", "header-value-456", "s3cr3t-query"):
        assert secret not in text


def test_dry_run_imports_no_google_module_and_works_without_the_client() -> None:
    code = BLOCK_GOOGLE + (
        "import json, sys\n"
        "import dispatch\n"
        "from dispatch.testing import capture_tasks\n"
        "name = dispatch.enqueue_http_task('/tasks/x', {'a': 1}, task_id='t-1')\n"
        "with capture_tasks() as tasks:\n"
        "    dispatch.enqueue_http_task('/tasks/y', {'b': 2})\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('google', 'grpc'))\n"
        "print(json.dumps({'name': name, 'captured': tasks.paths(), 'loaded': loaded}))\n"
    )
    result = run_python(code, env={"TASKS_DRY_RUN": "true"})
    assert result["name"].startswith("dry-run-")
    assert result["captured"] == ["/tasks/y"]
    assert result["loaded"] == []


def test_missing_client_is_cloud_tasks_unavailable_error() -> None:
    code = BLOCK_GOOGLE + (
        "import json\n"
        "import structlog\n"
        "import dispatch\n"
        "with structlog.testing.capture_logs() as logs:\n"
        "    try:\n"
        "        dispatch.enqueue_http_task('/tasks/x', {'a': 1})\n"
        "    except ImportError as exc:\n"
        "        result = {'type': type(exc).__name__, 'message': str(exc),\n"
        "                  'dispatch_error': isinstance(exc, dispatch.DispatchError)}\n"
        "result['events'] = [entry['event'] for entry in logs]\n"
        "print(json.dumps(result))\n"
    )
    env = {
        "TASKS_PROJECT": "p",
        "TASKS_LOCATION": "l",
        "TASKS_QUEUE": "q",
        "TASKS_BASE_URL": "https://worker.example.com",
    }
    result = run_python(code, env=env)
    assert result["type"] == "CloudTasksUnavailableError"
    assert result["dispatch_error"] is True
    assert "pip install 'cloud-tasks-guard[cloud]'" in result["message"]
    assert result["events"] == ["tasks.enqueue_http_task.cloud_tasks_unavailable"]
