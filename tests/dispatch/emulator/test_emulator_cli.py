"""``python -m dispatch.emulator`` as a user runs it: a real subprocess and the real client."""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from emulator_support import PARENT, QUEUE, client_for, http_task
from google.api_core import exceptions as gexc

ROOT = Path(__file__).resolve().parents[3]
INSTALL = "pip install 'cloud-tasks-guard[cloud]'"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dispatch.emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dispatch.emulator", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _ready_line(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            proc.kill()
            raise AssertionError("no ready line from python -m dispatch.emulator")
    return proc.stdout.readline().strip()


def _exports(line: str) -> dict[str, str]:
    words = shlex.split(line)
    assert words[0] == "export", line
    return dict(word.split("=", 1) for word in words[1:])


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[str, str]:
    try:
        proc.send_signal(sig)
        return proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serves_the_real_client_and_stops_cleanly_on_a_signal(worker, stop_signal):
    proc = _start("--port", "0", "--queue", QUEUE)
    line = _ready_line(proc)
    try:
        address = _exports(line)["TASKS_EMULATOR_HOST"]
        assert address.startswith("127.0.0.1:")
        with client_for(address) as client:
            client.create_task(
                parent=QUEUE, task=http_task(worker.url + "/cli", b"cli-body-secret")
            )
            (got,) = worker.wait_for(1)
        assert got.body == b"cli-body-secret"
    finally:
        out, err = _stop(proc, stop_signal)
    assert proc.returncode == 0, err
    assert out == ""  # stdout carries the ready line only
    assert "tasks.emulator.delivery" in err
    assert "tasks.emulator.stopped" in err
    assert "cli-body-secret" not in err


def test_the_ready_line_exports_everything_a_shell_needs_for_the_first_queue():
    second = f"{PARENT}/queues/second"
    proc = _start("--port", "0", "--queue", QUEUE, "--queue", second)
    line = _ready_line(proc)
    try:
        exports = _exports(line)
        assert set(exports) == {
            "TASKS_EMULATOR_HOST",
            "TASKS_PROJECT",
            "TASKS_LOCATION",
            "TASKS_QUEUE",
        }
        assert (exports["TASKS_PROJECT"], exports["TASKS_LOCATION"], exports["TASKS_QUEUE"]) == (
            "emu-test",
            "us-central1",
            "work",
        )
        # A real shell takes the line as it is.
        shell = subprocess.run(
            ["bash", "-c", line + '; echo "$TASKS_EMULATOR_HOST|$TASKS_PROJECT|$TASKS_QUEUE"'],
            capture_output=True,
            text=True,
            check=True,
        )
        assert shell.stdout.strip() == f"{exports['TASKS_EMULATOR_HOST']}|emu-test|work"
    finally:
        _stop(proc)


def test_without_a_queue_the_ready_line_exports_the_host_only():
    proc = _start("--port", "0")
    line = _ready_line(proc)
    try:
        assert list(_exports(line)) == ["TASKS_EMULATOR_HOST"]
    finally:
        _stop(proc)


def test_a_missing_queue_is_not_found_with_a_hint_about_the_queue_flag():
    proc = _start("--port", "0")
    line = _ready_line(proc)
    try:
        with client_for(_exports(line)["TASKS_EMULATOR_HOST"]) as client:
            with pytest.raises(gexc.NotFound, match=f"--queue {QUEUE}") as info:
                client.create_task(parent=QUEUE, task=http_task("http://127.0.0.1:9/x"))
            assert "Queue does not exist" in info.value.message
            with pytest.raises(gexc.NotFound, match="--queue"):
                client.get_queue(name=QUEUE)
    finally:
        _stop(proc)


def test_the_at_least_once_flags_start_an_emulator_that_redelivers(worker):
    proc = _start("--port", "0", "--queue", QUEUE, "--duplicate-deliveries", "1", "--seed", "7")
    line = _ready_line(proc)
    try:
        with client_for(_exports(line)["TASKS_EMULATOR_HOST"]) as client:
            client.create_task(parent=QUEUE, task=http_task(worker.url + "/twice"))
            first, second = worker.wait_for(2)
        assert first.path == second.path == "/twice"
    finally:
        _, err = _stop(proc)
    assert "fate=duplicate" in err


@pytest.mark.parametrize(
    ("args", "flag", "reason"),
    [
        (["--port", "70000"], "--port", "outside 0-65535"),
        (["--port", "-1"], "--port", "outside 0-65535"),
        (["--port", "http"], "--port", "not a port number"),
        (["--dedup-window", "nan"], "--dedup-window", "NaN"),
        (["--dedup-window", "inf"], "--dedup-window", "finite"),
        (["--dedup-window", "-5"], "--dedup-window", "non-negative"),
        (["--duplicate-deliveries", "1.5"], "--duplicate-deliveries", "from 0 to 1"),
        (["--duplicate-deliveries", "nan"], "--duplicate-deliveries", "from 0 to 1"),
        (["--seed", "x"], "--seed", "invalid int"),
        (["--queue", "queues/q"], "--queue", "Queue name must be formatted"),
        (["--host", ""], "--host", "empty"),
        (["--host", " "], "--host", "empty"),
        (["--host", "127.0.0.1 "], "--host", "whitespace"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(args, flag, reason):
    done = _run(*args)
    assert done.returncode == 2
    assert f"argument {flag}" in done.stderr
    assert reason in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_busy_port_exits_1_with_the_reason_and_the_flags():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run("--port", str(port))
    assert done.returncode == 1
    assert "could not bind" in done.stderr
    assert f"--port {port}" in done.stderr
    assert "Traceback" not in done.stderr


def _site_without_the_cloud_extra(tmp_path: Path) -> Path:
    """This venv's site-packages without grpc, google-* and cryptography (links, not copies)."""
    site = tmp_path / "site"
    site.mkdir()
    real = Path(sysconfig.get_paths()["purelib"])
    for entry in real.iterdir():
        name = entry.name.lower()
        if name.startswith(("grpc", "google", "cryptography", "proto", "_editable")):
            continue
        if name.endswith(".pth"):
            continue
        (site / entry.name).symlink_to(entry)
    return site


def _run_isolated(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -I: no PYTHONPATH, no user site; -S: not even this venv's site-packages.
    bootstrap = (
        "import runpy, sys; "
        f"sys.path[:0] = [{str(ROOT)!r}, {str(site)!r}]; "
        f"sys.argv = ['dispatch.emulator', *{list(args)!r}]; "
        "runpy.run_module('dispatch.emulator', run_name='__main__', alter_sys=True)"
    )
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", bootstrap],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )


def test_without_the_cloud_extra_one_line_says_how_to_install_it(tmp_path):
    site = _site_without_the_cloud_extra(tmp_path)
    probe = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path[:0] = [{str(site)!r}]; import grpc",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode != 0  # the environment really lacks grpc
    done = _run_isolated(site, "--port", "0", "--queue", QUEUE)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "python -m dispatch.emulator: the emulator needs the cloud extra (grpc is not installed)"
    )
    assert INSTALL in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    # Arguments are still checked first, and --help needs nothing.
    bad = _run_isolated(site, "--port", "70000")
    assert bad.returncode == 2
    assert "argument --port" in bad.stderr
    helped = _run_isolated(site, "--help")
    assert helped.returncode == 0
    assert "--duplicate-deliveries" in helped.stdout


def test_a_client_without_batch_create_tasks_is_named_in_one_line():
    bootstrap = (
        "from google.cloud import tasks_v2; del tasks_v2.BatchCreateTasksRequest; "
        "from dispatch.emulator._cli import main; raise SystemExit(main(['--port', '0']))"
    )
    done = subprocess.run(
        # google-api-core warns about Python 3.10 on import; that line is not ours.
        [sys.executable, "-W", "ignore::FutureWarning", "-c", bootstrap],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "python -m dispatch.emulator: dispatch.emulator needs google-cloud-tasks 2.25 or later"
    )
    assert INSTALL in lines[0]


def test_a_broken_module_of_our_own_is_not_reported_as_a_missing_extra():
    # Only the cloud extra's packages are "not installed"; a failing import inside dispatch
    # is a bug and keeps its traceback.
    bootstrap = (
        "import sys; sys.modules['dispatch.emulator._emulator'] = None; "
        "from dispatch.emulator._cli import main; raise SystemExit(main(['--port', '0']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", bootstrap],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "ModuleNotFoundError" in done.stderr
    assert "cloud extra" not in done.stderr
