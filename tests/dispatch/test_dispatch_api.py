"""Public names of dispatch and the contract of its errors."""

from __future__ import annotations

import pickle
from types import ModuleType

import pytest

import dispatch
import dispatch.testing
import dispatch.worker
from dispatch import (
    BulkEnqueueError,
    CloudTasksUnavailableError,
    DispatchConfigError,
    DispatchError,
    DuplicateTaskError,
    TaskCreationError,
    TaskHeadersError,
)


@pytest.mark.parametrize("module", [dispatch, dispatch.testing, dispatch.worker])
def test_all_is_sorted_and_complete(module: ModuleType) -> None:
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), name


def test_dispatch_exports_exactly_the_public_api() -> None:
    assert dispatch.__all__ == [
        "BulkEnqueueError",
        "CloudTasksUnavailableError",
        "DispatchConfigError",
        "DispatchError",
        "DispatchSettings",
        "DuplicateTaskError",
        "TaskCreationError",
        "TaskHeadersError",
        "enqueue_http_task",
        "enqueue_http_task_async",
        "enqueue_many",
        "enqueue_many_async",
    ]


def test_error_hierarchy_matches_the_builtins_callers_catch() -> None:
    assert issubclass(DispatchConfigError, DispatchError)
    assert issubclass(DispatchConfigError, ValueError)
    assert issubclass(CloudTasksUnavailableError, ImportError)
    assert issubclass(TaskCreationError, RuntimeError)
    assert issubclass(DuplicateTaskError, TaskCreationError)
    assert issubclass(BulkEnqueueError, TaskCreationError)
    assert issubclass(TaskHeadersError, ValueError)
    for cls in (CloudTasksUnavailableError, TaskCreationError, TaskHeadersError):
        assert issubclass(cls, DispatchError)


def _roundtrip(error: BaseException) -> BaseException:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    return copy


def test_errors_pickle_with_their_fields() -> None:
    config = _roundtrip(DispatchConfigError("bad path", field="path"))
    assert isinstance(config, DispatchConfigError)
    assert config.field == "path"

    missing = _roundtrip(CloudTasksUnavailableError(missing="google.cloud.tasks_v2"))
    assert isinstance(missing, CloudTasksUnavailableError)
    assert missing.missing == "google.cloud.tasks_v2"
    assert "pip install 'cloud-tasks-guard[cloud]'" in str(missing)

    failed = _roundtrip(
        TaskCreationError(
            "boom",
            task_name="q/tasks/a",
            queue="q",
            code="UNAVAILABLE",
            attempts=3,
            outcome_unknown=True,
        )
    )
    assert isinstance(failed, TaskCreationError)
    assert (
        failed.task_name,
        failed.queue,
        failed.code,
        failed.attempts,
        failed.outcome_unknown,
    ) == (
        "q/tasks/a",
        "q",
        "UNAVAILABLE",
        3,
        True,
    )

    duplicate = _roundtrip(DuplicateTaskError(task_name="q/tasks/a", queue="q", attempts=2))
    assert isinstance(duplicate, DuplicateTaskError)
    assert duplicate.task_name == "q/tasks/a"
    assert duplicate.code == "ALREADY_EXISTS"
    assert duplicate.attempts == 2

    headers = _roundtrip(TaskHeadersError("missing", header="X-CloudTasks-TaskName"))
    assert isinstance(headers, TaskHeadersError)
    assert headers.header == "X-CloudTasks-TaskName"


def test_bulk_error_keeps_successes_and_each_failure_through_pickle() -> None:
    error = BulkEnqueueError(
        ["q/tasks/a", None, "q/tasks/c", None],
        [(1, DuplicateTaskError(task_name="q/tasks/b")), (3, DispatchConfigError("bad", "path"))],
    )
    copy = _roundtrip(error)
    assert isinstance(copy, BulkEnqueueError)
    assert copy.names == ("q/tasks/a", None, "q/tasks/c", None)
    assert copy.succeeded == {0: "q/tasks/a", 2: "q/tasks/c"}
    assert [(i, type(e).__name__) for i, e in copy.failures] == [
        (1, "DuplicateTaskError"),
        (3, "DispatchConfigError"),
    ]
    assert "2 of 4 tasks failed (2 created)" in str(copy)
    assert "item 1: DuplicateTaskError" in str(copy)
