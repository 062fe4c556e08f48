"""pytest plugin for dispatch: fixtures for the emulator and for captured tasks."""

# --- enqueued_tasks: captured tasks (dispatch.testing) ----------------------------------
from collections.abc import Iterator as _Iterator
from typing import TYPE_CHECKING

import pytest

from dispatch.testing import TaskCapture as _TaskCapture
from dispatch.testing import capture_tasks as _capture_tasks


@pytest.fixture
def enqueued_tasks() -> _Iterator[_TaskCapture]:
    """Tasks enqueued during the test, recorded instead of sent (validation still runs)."""
    with _capture_tasks() as captured:
        yield captured


# --- cloud_tasks_emulator: a Cloud Tasks emulator on a free loopback port -----------------
EMULATOR_PROJECT = "taskguard-test"
EMULATOR_LOCATION = "us-central1"
EMULATOR_QUEUE = "default"


@pytest.fixture
def cloud_tasks_emulator(monkeypatch: pytest.MonkeyPatch) -> _Iterator["_Emulator"]:
    """A running dispatch.emulator with one queue; TASKS_* point at it for the test.

    Sets TASKS_EMULATOR_HOST, TASKS_PROJECT, TASKS_LOCATION and TASKS_QUEUE (and unsets
    TASKS_DRY_RUN, which would bypass the emulator); all are restored afterwards.
    """
    try:
        from dispatch.emulator import Emulator
    except ImportError as exc:  # the cloud extra is not installed
        pytest.fail(
            f"cloud_tasks_emulator needs the cloud extra (pip install 'taskguard[cloud]'): {exc}",
            pytrace=False,
        )
    queue = f"projects/{EMULATOR_PROJECT}/locations/{EMULATOR_LOCATION}/queues/{EMULATOR_QUEUE}"
    with Emulator(port=0, queues=[queue]) as emulator:
        monkeypatch.setenv("TASKS_EMULATOR_HOST", emulator.address)
        monkeypatch.setenv("TASKS_PROJECT", EMULATOR_PROJECT)
        monkeypatch.setenv("TASKS_LOCATION", EMULATOR_LOCATION)
        monkeypatch.setenv("TASKS_QUEUE", EMULATOR_QUEUE)
        monkeypatch.delenv("TASKS_DRY_RUN", raising=False)
        yield emulator


if TYPE_CHECKING:
    from dispatch.emulator import Emulator as _Emulator
