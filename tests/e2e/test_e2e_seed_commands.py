"""The commands the seed's refactor promises, run as a reader would, on the example service.

Each runs in a fresh process, from a copy of ``examples/podcast_app`` (the ``app`` package
plays the seed's ``backend``), with no ``TASKS_*`` variable inherited from this run.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from dispatch.emulator import Emulator
from examples._stack import clean_env, copy_example

BIN = Path(sys.executable).parent
SEED_DISPATCH = (
    "from app.infrastructure.tasks_client import enqueue_http_task; "
    "print(enqueue_http_task('/api/tasks/transcribe', {'filename': 'test.wav'}))"
)
GUARD_TEST = "app/infrastructure/task_client_guard.py::test_no_unauthorized_task_imports"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example(tmp_path_factory.mktemp("seed") / "podcast_app")


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_dry_run_one_liner_prints_a_dry_run_name(example: Path) -> None:
    # TASKS_DRY_RUN=true python -c "from app.infrastructure.tasks_client import ..."
    result = run([sys.executable, "-c", SEED_DISPATCH], example, TASKS_DRY_RUN="true")

    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"dry-run-(\S+)", last)
    assert match is not None, result.stdout
    assert datetime.fromisoformat(match.group(1)).tzinfo is not None
    assert "tasks.dry_run" in result.stdout
    assert "test.wav" not in result.stdout + result.stderr


def test_the_one_liner_without_dry_run_fails_naming_what_to_set(example: Path) -> None:
    result = run([sys.executable, "-c", SEED_DISPATCH], example)

    assert result.returncode == 1
    assert "DispatchConfigError: missing configuration: set TASKS_PROJECT" in result.stderr
    assert "TASKS_DRY_RUN=true" in result.stderr


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(queues=["projects/seed/locations/us-central1/queues/podcast"]) as running:
        yield running


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: deliveries to it are refused, so the task
    stays in the queue (no other process can answer on it either)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_dispatching_logs_start_at_info(
    example: Path, emulator: Emulator, closed_port: int
) -> None:
    # "Check logs for event=tasks.enqueue_http_task.start when dispatching": a real send,
    # with structlog's default configuration (the info level included, nothing set up).
    result = run(
        [sys.executable, "-c", SEED_DISPATCH],
        example,
        TASKS_EMULATOR_HOST=emulator.address,
        TASKS_PROJECT="seed",
        TASKS_LOCATION="us-central1",
        TASKS_QUEUE="podcast",
        TASKS_BASE_URL=f"http://127.0.0.1:{closed_port}",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    start = [line for line in lines if "tasks.enqueue_http_task.start" in line]
    assert len(start) == 1, result.stdout
    assert "[info" in start[0]
    name = lines[-1]
    assert re.fullmatch(r"projects/seed/locations/us-central1/queues/podcast/tasks/\S+", name)
    assert [task.name for task in emulator.tasks()] == [name]


def test_the_guard_test_passes_on_the_example(example: Path) -> None:
    # pytest app/infrastructure/task_client_guard.py::test_no_unauthorized_task_imports
    result = run([str(BIN / "pytest"), "-p", "no:cacheprovider", GUARD_TEST], example)

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^=+ 1 passed in ", result.stdout, re.MULTILINE), result.stdout


def test_the_guard_test_fails_once_a_router_imports_the_cloud_tasks_client(
    tmp_path: Path,
) -> None:
    edited = copy_example(tmp_path / "podcast_app")
    router = edited / "app" / "api" / "routers" / "health.py"
    router.write_text("from google.cloud import tasks_v2\n" + router.read_text())

    result = run([str(BIN / "pytest"), "-p", "no:cacheprovider", GUARD_TEST], edited)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "task dispatch outside tasks_client" in result.stdout
    assert re.search(r"health\.py:1: TG001 app\.api\.routers\.health", result.stdout), result.stdout


def test_the_smoke_test_passes_on_the_example(example: Path) -> None:
    # pytest tests/test_tasks_client_smoke.py
    result = run(
        [str(BIN / "pytest"), "-p", "no:cacheprovider", "-v", "tests/test_tasks_client_smoke.py"],
        example,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    for name in (
        "test_dry_run_needs_no_configuration_and_returns_a_dated_name",
        "test_every_service_sends_through_tasks_client",
        "test_missing_configuration_is_an_error_from_the_service_not_a_fallback",
        "test_a_refused_task_is_an_error_from_the_service",
        "test_a_real_send_logs_start_at_info_then_created",
    ):
        assert f"test_tasks_client_smoke.py::{name} PASSED" in result.stdout, result.stdout
    assert "failed" not in result.stdout.splitlines()[-1]
