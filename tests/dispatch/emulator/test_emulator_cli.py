"""``python -m dispatch.emulator`` as a user runs it: a real subprocess and the real client."""

from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import sys

import pytest
from emulator_support import QUEUE, client_for, http_task


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dispatch.emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ready_line(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            proc.kill()
            raise AssertionError("no ready line from python -m dispatch.emulator")
    return proc.stdout.readline().strip()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serves_the_real_client_and_stops_cleanly_on_a_signal(worker, stop_signal):
    proc = _start("--port", "0", "--queue", QUEUE)
    try:
        line = _ready_line(proc)
        key, _, address = line.partition("=")
        assert key == "TASKS_EMULATOR_HOST"
        assert address.startswith("127.0.0.1:")
        with client_for(address) as client:
            client.create_task(
                parent=QUEUE, task=http_task(worker.url + "/cli", b"cli-body-secret")
            )
            (got,) = worker.wait_for(1)
        assert got.body == b"cli-body-secret"
        proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == ""  # stdout carries the ready line only
    assert "tasks.emulator.delivery" in err
    assert "tasks.emulator.stopped" in err
    assert "cli-body-secret" not in err


def test_a_malformed_queue_exits_2_with_the_reason():
    proc = _start("--port", "0", "--queue", "queues/q")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "Queue name must be formatted" in err


def test_a_busy_port_exits_1_with_the_reason():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = _start("--port", str(taken.getsockname()[1]))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "could not bind" in err


def test_a_nan_dedup_window_exits_2_with_the_reason():
    # NaN would keep every task name reserved forever: refused, not silently accepted.
    proc = _start("--port", "0", "--dedup-window", "nan")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "NaN" in err
