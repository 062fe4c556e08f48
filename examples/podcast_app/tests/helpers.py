"""Helpers shared by the tests: settings for a test app, Cloud Tasks delivery headers."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dispatch.emulator import Emulator

from app.settings import Settings

QUEUE = "podcast"
TASKS_EMAIL = "tasks@podcast-test.iam.gserviceaccount.com"


def pem_certs_url(emulator: Emulator) -> str:
    """Where the emulator publishes its token-signing key in Google's PEM form."""
    return emulator.jwks_url.replace("/oauth2/v3/certs", "/oauth2/v1/certs")


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for an app on its own database, worker authentication off unless overridden."""
    base = Settings(
        database=str(tmp_path / "podcast.sqlite3"),
        worker_auth=False,
        oidc_audience=None,
        oidc_email=None,
        oidc_certs_url="http://127.0.0.1:9/unused",
        flaky_transcribe=False,
        log_format="console",
    )
    return dataclasses.replace(base, **overrides)


def task_headers(task_id: str, *, retry: int = 0) -> dict[str, str]:
    """The headers Cloud Tasks sets on a delivery."""
    return {
        "X-CloudTasks-QueueName": QUEUE,
        "X-CloudTasks-TaskName": task_id,
        "X-CloudTasks-TaskRetryCount": str(retry),
        "X-CloudTasks-TaskExecutionCount": str(retry),
        "X-CloudTasks-TaskETA": f"{time.time():.6f}",
    }


def task_id_of(name: str) -> str:
    return name.rsplit("/", 1)[1]


class Subscriber:
    """A webhook receiver on loopback: records each event, answers the queued statuses."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []
        self.statuses: list[int] = []
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                subscriber.events.append(json.loads(self.rfile.read(length)))
                status = subscriber.statuses.pop(0) if subscriber.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/episodes"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Subscriber:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
