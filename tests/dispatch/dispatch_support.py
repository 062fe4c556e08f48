"""Helpers shared by the dispatch tests (imported by name; not a conftest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dispatch import DispatchSettings

ROOT = Path(__file__).resolve().parents[2]

PROJECT = "test-project"
LOCATION = "us-central1"
QUEUE = "default"
QUEUE_PATH = f"projects/{PROJECT}/locations/{LOCATION}/queues/{QUEUE}"


def make_settings(**overrides: Any) -> DispatchSettings:
    values: dict[str, Any] = {
        "project": PROJECT,
        "location": LOCATION,
        "queue": QUEUE,
        "base_url": "https://worker.example.com",
    }
    values.update(overrides)
    return DispatchSettings(**values)


# A meta_path finder that makes google-cloud-tasks (and grpc) look uninstalled.
BLOCK_GOOGLE = textwrap.dedent(
    """
    import sys

    class _Uninstalled:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("google", "grpc", "proto"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _Uninstalled())
    """
)


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """Run ``code`` in a fresh interpreter; it must print one JSON document last."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKS_", "GOOGLE_"))}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on loopback that records every request and answers 200."""

    base_url: str
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)


@contextmanager
def http_receiver() -> Iterator[Receiver]:
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            assert receiver is not None
            with receiver.arrived:
                receiver.requests.append(
                    Received("POST", self.path, dict(self.headers.items()), body)
                )
                receiver.arrived.notify_all()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, name="test-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
