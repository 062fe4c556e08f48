"""Fixtures for the emulator's tests: a real HTTP worker, the emulator, the real client."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from emulator_support import QUEUE, Worker, client_for, fast_queue
from google.cloud import tasks_v2

from dispatch.emulator import Emulator


@pytest.fixture(autouse=True)
def no_threads_left_behind() -> Iterator[None]:
    """Every thread a test starts (emulator, worker, client) must be gone when it ends."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left, f"threads left behind: {[t.name for t in left]}"


@pytest.fixture
def worker() -> Iterator[Worker]:
    w = Worker()
    yield w
    w.close()


@pytest.fixture
def emulator(worker: Worker) -> Iterator[Emulator]:
    # Depends on the worker so that it stops first: its keep-alive connections close
    # before the worker's server joins its handler threads.
    with Emulator(port=0, min_dispatch_deadline=0.2) as emu:
        yield emu


@pytest.fixture
def client(emulator: Emulator) -> Iterator[tasks_v2.CloudTasksClient]:
    with client_for(emulator.address) as c:
        yield c


@pytest.fixture
def queue(client: tasks_v2.CloudTasksClient) -> str:
    """A running queue with quick retries (50 ms doubling to 1 s, 5 attempts)."""
    client.create_queue(parent=QUEUE.rsplit("/queues/", 1)[0], queue=fast_queue(QUEUE))
    return QUEUE
