"""Acceptance findings on dispatch's public API."""

from __future__ import annotations

import os

import pytest
import structlog

from dispatch import BulkEnqueueError, DispatchConfigError, DuplicateTaskError, enqueue_many


@pytest.fixture
def no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TASKS_") or name == "GOOGLE_CLOUD_PROJECT":
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_configuration")
def test_enqueue_many_without_configuration_says_it_once_not_once_per_item() -> None:
    # A missing setting is the same for every item: one ValueError, as enqueue_http_task
    # raises, not a bulk error that repeats it 500 times.
    with structlog.testing.capture_logs() as logs, pytest.raises(DispatchConfigError) as info:
        enqueue_many([("/tasks/x", {"i": i}) for i in range(500)])
    error = info.value
    assert isinstance(error, ValueError)
    assert not isinstance(error, BulkEnqueueError)
    assert error.missing == ("TASKS_PROJECT", "TASKS_LOCATION", "TASKS_QUEUE", "TASKS_BASE_URL")
    assert str(error).startswith("missing configuration: set TASKS_PROJECT")
    assert [(e["event"], e["field"]) for e in logs] == [
        ("tasks.enqueue_http_task.config_missing", "TASKS_PROJECT")
    ]


def test_different_failures_are_listed_each_with_its_items() -> None:
    config = DispatchConfigError("path must start with a single '/'", field="path")
    duplicate = DuplicateTaskError("task t already exists", task_name="t")
    error = BulkEnqueueError(
        ["a", None, None, None, "b", None],
        [(1, config), (2, config), (3, duplicate), (5, config)],
    )
    assert str(error).splitlines() == [
        "4 of 6 tasks failed (2 created):",
        "  items 1-2: DispatchConfigError: path must start with a single '/'",
        "  item 3: DuplicateTaskError: task t already exists",
        "  item 5: DispatchConfigError: path must start with a single '/'",
    ]
