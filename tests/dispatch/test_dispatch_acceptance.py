"""Acceptance findings on dispatch's public API."""

from __future__ import annotations

import os

import pytest

from dispatch import BulkEnqueueError, DispatchConfigError, DuplicateTaskError, enqueue_many


@pytest.fixture
def no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TASKS_") or name == "GOOGLE_CLOUD_PROJECT":
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_configuration")
def test_enqueue_many_without_configuration_says_it_once_not_once_per_item() -> None:
    with pytest.raises(BulkEnqueueError) as info:
        enqueue_many([("/tasks/x", {"i": i}) for i in range(500)])
    error = info.value
    # Every item is still accounted for, in the fields...
    assert len(error.failures) == 500
    assert all(isinstance(e, DispatchConfigError) for _i, e in error.failures)
    assert error.names == (None,) * 500
    # ...and the message names every missing variable once, for the run of items it hit.
    message = str(error)
    lines = message.splitlines()
    assert lines[0] == "500 of 500 tasks failed (0 created):"
    assert lines[1].startswith("  items 0-499: DispatchConfigError: missing configuration: set ")
    assert "TASKS_PROJECT" in lines[1]
    assert "TASKS_BASE_URL" in lines[1]
    assert len(lines) == 2


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
