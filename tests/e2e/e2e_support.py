"""Reading what the processes did: the API, the service's JSON events, the emulator's log."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx

from examples._stack import EmulatorInfo, Proc, Processes, Service, wait_until


class Stack:
    """The emulator and the example service, shared by the tests of one module."""

    def __init__(self, procs: Processes, emulator: EmulatorInfo, service: Service) -> None:
        self.procs = procs
        self.emulator = emulator
        self.service = service


FORBIDDEN = "import httpx  # added: a router calling another service directly\n"


def add_forbidden_import(tree: Path) -> tuple[Path, int]:
    """Add the import where a real edit would put it; return the file and its line."""
    router = tree / "app" / "api" / "routers" / "health.py"
    source = router.read_text()
    marker = "from fastapi import APIRouter\n"
    assert marker in source
    edited = source.replace(marker, FORBIDDEN + marker)
    router.write_text(edited)
    return router, edited.splitlines().index(FORBIDDEN.rstrip("\n")) + 1


_PAIR = re.compile(r"""(\w+)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)""")


def publish(service: Service, *, key: str | None = None) -> httpx.Response:
    """POST an episode; the same key sends the same body (a client retrying)."""
    headers = {"Idempotency-Key": key} if key is not None else {}
    title = f"Episode {key or uuid.uuid4().hex[:8]}"
    body = {"title": title, "audio_url": "https://media.example/a.mp3"}
    return httpx.post(service.base_url + "/api/episodes", json=body, headers=headers, timeout=30)


def episode(service: Service, episode_id: int) -> dict[str, Any]:
    response = httpx.get(f"{service.base_url}/api/episodes/{episode_id}", timeout=10)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def wait_for_status(
    service: Service, episode_id: int, status: str, timeout: float = 30.0
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        state = episode(service, episode_id)
        return state if state["status"] == status else None

    return wait_until(probe, timeout=timeout, what=f"episode {episode_id} to be {status}")


def emulator_deliveries(emulator: Proc) -> list[dict[str, str]]:
    """The ``tasks.emulator.delivery`` events of the emulator's log, as key/value dicts."""
    found = []
    for line in emulator.stderr().splitlines():
        if "tasks.emulator.delivery" in line:
            found.append({k: v.strip("'\"") for k, v in _PAIR.findall(line)})
    return found


def deliveries_of(emulator: Proc, task_id: str) -> list[dict[str, str]]:
    return [d for d in emulator_deliveries(emulator) if d.get("task") == task_id]


def task_id_of(task_name: str) -> str:
    return task_name.rsplit("/", 1)[1]


def wait_delivered(emulator: Proc, task_id: str, timeout: float = 30.0) -> list[dict[str, str]]:
    """Every delivery of the task, once one succeeded.

    The emulator logs a delivery after the worker answered, so the API can show the effect
    a moment before the log line exists: wait for it rather than race it.
    """

    def probe() -> list[dict[str, str]] | None:
        attempts = deliveries_of(emulator, task_id)
        return attempts if any(a.get("status", "").startswith("2") for a in attempts) else None

    return wait_until(probe, timeout=timeout, what=f"a successful delivery of {task_id}")
