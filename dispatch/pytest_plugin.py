"""pytest plugin for dispatch: fixtures for the emulator and for captured tasks."""

# --- enqueued_tasks: captured tasks (dispatch.testing) ----------------------------------
from collections.abc import Iterator as _Iterator

import pytest

from dispatch.testing import TaskCapture as _TaskCapture
from dispatch.testing import capture_tasks as _capture_tasks


@pytest.fixture
def enqueued_tasks() -> _Iterator[_TaskCapture]:
    """Tasks enqueued during the test, recorded instead of sent (validation still runs)."""
    with _capture_tasks() as captured:
        yield captured
