"""Run each way the legacy service escaped to the background; print one JSON line per try.

Run it from examples/podcast_app_legacy, plainly or under ``taskguard run``: plainly every
path runs (and fails later for want of a network or credentials); under the guard each one
is refused with ForbiddenImportError at the import statement.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from taskguard import ForbiddenImportError

# Nothing here may reach a real network or credentials: a closed local port, a missing
# key file, no metadata-server probing.
os.environ.setdefault("WORKER_URL", "http://127.0.0.1:9")
os.environ.setdefault("WEBHOOK_URL", "http://127.0.0.1:9/hooks/published")
os.environ.setdefault("GOOGLE_APPLICATION_CREDENTIALS", os.devnull + "/missing-key.json")
os.environ.setdefault("NO_GCE_CHECK", "True")


def _own_cloud_tasks_client() -> None:
    importlib.import_module("app.queue")


def _assembler_posts_to_the_worker() -> None:
    assembler = importlib.import_module("app.api.services.episodes.assembler")
    assembler.request_assembly(1)


def _worker_starts_a_process() -> None:
    importlib.import_module("app.worker.tasks.transcribe")


def _lazy_requests_in_a_router() -> None:
    media = importlib.import_module("app.api.routers.media")
    media.probe("http://127.0.0.1:9/episode.mp3")


def _dynamic_http_client() -> None:
    notifier = importlib.import_module("app.api.services.episodes.notifier")
    notifier.notify_published(1)


SCENARIOS: dict[str, Callable[[], None]] = {
    "own Cloud Tasks client (app/queue.py)": _own_cloud_tasks_client,
    "assembler posts to the worker with httpx": _assembler_posts_to_the_worker,
    "worker task starts a multiprocessing.Process": _worker_starts_a_process,
    "lazy `import requests` in a router function": _lazy_requests_in_a_router,
    "importlib.import_module(settings.HTTP_CLIENT)": _dynamic_http_client,
}


def _outcome(name: str, run: Callable[[], None]) -> dict[str, Any]:
    try:
        run()
    except ImportError as exc:
        # ForbiddenImportError carries the rule; any other ImportError is reported as is.
        return {
            "scenario": name,
            "outcome": "blocked" if isinstance(exc, ForbiddenImportError) else "error",
            "error": type(exc).__name__,
            "code": getattr(exc, "code", None),
            "importer": getattr(exc, "importer", None),
            "imported": getattr(exc, "imported", None),
            "message": str(exc).splitlines()[0] if str(exc) else "",
        }
    except Exception as exc:
        # It ran: it only failed later, on the network or credentials it could not reach.
        return {"scenario": name, "outcome": "ran", "error": type(exc).__name__}
    return {"scenario": name, "outcome": "ran", "error": None}


def main() -> int:
    sys.path.insert(0, os.getcwd())
    for name, run in SCENARIOS.items():
        print(json.dumps(_outcome(name, run)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
