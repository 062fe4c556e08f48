"""The example service under at-least-once delivery: every task delivered twice, out of order.

The emulator runs as ``python -m dispatch.emulator --duplicate-deliveries 1``: each delivery
the worker answers 2xx is delivered again with the same headers, and due tasks leave in an
order that does not follow their ETA. The service must still apply each effect once: one
transcript, one assembly, one webhook per episode, one task of each kind.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from e2e_support import emulator_deliveries, episode, publish, wait_for_status

from examples._stack import (
    QUEUE,
    EmulatorInfo,
    Processes,
    clean_env,
    start_service,
    wait_until,
)

EPISODES = 4
KINDS = ("transcribe", "assemble", "notify")


class Subscriber:
    """A webhook subscriber on loopback that records every event posted to it."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                subscriber.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    s = Subscriber()
    yield s
    s.close()


def _start_emulator(procs: Processes) -> EmulatorInfo:
    proc = procs.start(
        "emulator",
        [
            sys.executable,
            "-m",
            "dispatch.emulator",
            "--port",
            "0",
            "--queue",
            QUEUE,
            "--duplicate-deliveries",
            "1",
            "--seed",
            "13",
        ],
        env=clean_env(),
    )
    address = proc.wait_for_output(r"\bTASKS_EMULATOR_HOST=(\S+)", timeout=60).group(1)
    jwks = proc.wait_for_output(
        r"tasks\.emulator\.started.*?jwks_url=(\S+)", stream="stderr", timeout=60
    ).group(1)
    return EmulatorInfo(proc, address, jwks)


def test_every_effect_happens_once_when_every_task_is_delivered_twice(procs, subscriber):
    emulator = _start_emulator(procs)
    service = start_service(
        procs,
        emulator,
        guarded=True,
        PODCAST_FLAKY_TRANSCRIBE="1",  # a retry before the success that is duplicated
        PODCAST_WEBHOOK_URL=subscriber.url,
    )
    ids = []
    for _ in range(EPISODES):
        response = publish(service)
        assert response.status_code == 202
        ids.append(response.json()["episode"]["id"])
    done = {i: wait_for_status(service, i, "published", timeout=60) for i in ids}

    # Every success was delivered again: wait until each has its duplicate in the log.
    def duplicated() -> list[dict[str, str]] | None:
        log = emulator_deliveries(emulator.proc)
        succeeded = Counter(d["task"] for d in log if d["fate"] == "done")
        again = Counter(d["task"] for d in log if d["fate"] == "duplicate")
        if len(succeeded) == EPISODES * len(KINDS) and again == succeeded:
            return log
        return None

    log = wait_until(duplicated, timeout=60, what="a duplicate of every successful delivery")
    assert {d["status"] for d in log if d["fate"] == "duplicate"} == {"200"}

    # One effect each: the webhook once per episode, one completed attempt per kind.
    assert sorted(e["episode_id"] for e in subscriber.events) == sorted(ids)
    assert {e["event"] for e in subscriber.events} == {"episode.published"}
    for i in ids:
        state = episode(service, i)
        assert state["status"] == "published"
        assert state["transcript"] == done[i]["transcript"]
        assert state["transcript"].startswith("Episode ")
        outcomes = Counter((a["kind"], a["outcome"]) for a in state["attempts"])
        for kind in KINDS:
            assert outcomes[(kind, "done")] == 1, (kind, state["attempts"])
            # The duplicate reached the worker, which recognised it.
            assert outcomes[(kind, "duplicate")] >= 1, (kind, state["attempts"])
        assert outcomes[("transcribe", "failed")] == 1  # the flaky engine's first attempt

    # One task of each kind per episode was created; asking again for a follow-up while
    # handling a duplicate met the task name already taken.
    created = [
        e["task_name"]
        for e in service.events()
        if e.get("event") == "tasks.enqueue_http_task.created"
    ]
    assert len(created) == len(set(created)) == EPISODES * len(KINDS)
    duplicates_refused = [
        e for e in service.events() if e.get("event") == "tasks.enqueue_http_task.duplicate"
    ]
    assert len(duplicates_refused) >= EPISODES  # transcribe's and assemble's follow-ups again
