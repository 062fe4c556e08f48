"""End to end: the emulator and the example service as real processes on 127.0.0.1.

Every fixture that starts processes stops them on the way out and then asserts that none
of them, nor anything they spawned, is still running.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Stack

from examples._stack import Processes, start_emulator, start_service


def _stop_and_check(procs: Processes) -> None:
    procs.stop_all()
    assert procs.leftovers() == {}, "processes left behind"


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path / "logs")
    try:
        yield started
    finally:
        _stop_and_check(started)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Both processes; the service runs under ``taskguard run`` (guard in error mode), with
    a transcription engine that fails every first attempt, so retries are always exercised.
    """
    procs = Processes(tmp_path_factory.mktemp("stack"))
    try:
        emulator = start_emulator(procs)
        service = start_service(procs, emulator, guarded=True, PODCAST_FLAKY_TRANSCRIBE="1")
        yield Stack(procs, emulator, service)
    finally:
        _stop_and_check(procs)
