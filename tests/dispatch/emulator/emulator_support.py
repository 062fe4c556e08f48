"""Test helpers: a real HTTP worker on loopback and a real Cloud Tasks client for the emulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

PROJECT = "emu-test"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
QUEUE = f"{PARENT}/queues/work"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    header_names: list[str]
    body: bytes
    arrived_at: float
    left_at: float = 0.0


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hold: float = 0.0  # seconds to wait before answering (released early by Worker.release)
    trickle: float = 0.0  # send the response head one header at a time, this far apart


Behaviour = Callable[[Received], Reply]


class Worker:
    """A real HTTP/1.1 server on 127.0.0.1 that records every request it gets."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.received: list[Received] = []
        self._behaviour: Behaviour = lambda _r: Reply()
        self._release = threading.Event()
        self.active = 0
        self.max_active = 0
        worker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                got = Received(
                    method=self.command,
                    path=self.path,
                    headers=dict(self.headers.items()),
                    header_names=list(self.headers.keys()),
                    body=body,
                    arrived_at=time.time(),
                )
                with worker._lock:
                    worker.received.append(got)
                    worker.active += 1
                    worker.max_active = max(worker.max_active, worker.active)
                    worker._lock.notify_all()
                    behaviour = worker._behaviour
                try:
                    reply = behaviour(got)
                    if reply.hold:
                        worker._release.wait(reply.hold)
                finally:
                    with worker._lock:
                        worker.active -= 1
                        got.left_at = time.time()
                if reply.trickle:
                    try:
                        self.wfile.write(f"HTTP/1.1 {reply.status} OK\r\n".encode())
                        for i in range(50):
                            self.wfile.write(f"X-Slow-{i}: 1\r\n".encode())
                            self.wfile.flush()
                            if worker._release.wait(reply.trickle):
                                break
                        self.wfile.write(b"Content-Length: 0\r\n\r\n")
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Handler threads are joined by server_close(): none outlives the test.
        self.server.daemon_threads = False
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def behave(self, behaviour: Behaviour) -> None:
        with self._lock:
            self._behaviour = behaviour

    def answer(self, *statuses: int, then: int = 200) -> None:
        """Answer the n-th request of each task with statuses[n] (then ``then``)."""
        counts: dict[str, int] = {}

        def behaviour(r: Received) -> Reply:
            task = r.headers.get("X-CloudTasks-TaskName", "")
            n = counts.get(task, 0)
            counts[task] = n + 1
            return Reply(statuses[n] if n < len(statuses) else then)

        self.behave(behaviour)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"worker got {len(self.received)} of {count} requests")
                self._lock.wait(remaining)
            return list(self.received)

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


@contextmanager
def client_for(address: str) -> Iterator[tasks_v2.CloudTasksClient]:
    """The real google-cloud-tasks client over an insecure channel (as the dispatcher builds it)."""
    channel = grpc.insecure_channel(address)
    try:
        yield tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    finally:
        channel.close()


def http_task(url: str, body: bytes = b"", **http_request: object) -> dict[str, object]:
    request: dict[str, object] = {"url": url, **http_request}
    if body:
        request["body"] = body
    return {"http_request": request}


def fast_queue(name: str, **retry: object) -> dict[str, object]:
    """A queue whose retries come quickly, so retry tests take fractions of a second."""
    retry_config: dict[str, object] = {
        "min_backoff": {"nanos": 50_000_000},
        "max_backoff": {"seconds": 1},
        "max_attempts": 5,
    }
    retry_config.update(retry)
    return {"name": name, "retry_config": retry_config}
