"""dispatch.emulator vs gcloud-tasks-emulator 0.6.2: CreateTask rate and delivery latency.

Both emulators run side by side as subprocesses on this machine, driven by the same real
google-cloud-tasks client over insecure gRPC channels on loopback. Batches alternate between
them, so background load hits both alike; each metric is the median over its batches.

gcloud-tasks-emulator pins protobuf < 5, so it lives in its own venv under benchmarks/.work/
(gitignored); this script creates that venv on first use:

    .venv/bin/python benchmarks/bench_emulator.py [--rounds 15] [--batch 200]

Measured:
- create rate, sequential: CreateTask calls per second from one thread (queue paused, so the
  emulator does no delivery work meanwhile);
- create rate, 8 threads: the same from 8 threads sharing one client (tasks/s);
- delivery latency: from just before CreateTask to the worker receiving the request (a
  loopback HTTP server), one task at a time; p50 and p90.

An anchor runs in the same alternating batches: a grpcio server whose CreateTask does no
work at all (it answers one fixed Task). Its rate is the ceiling any Python gRPC emulator
can reach with this client on this machine; "share of the ceiling" tells how much of a
CreateTask's cost is the emulator's own work rather than grpcio and the client.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
OTHER_VENV = WORK / "gte-venv"
OTHER = "gcloud-tasks-emulator==0.6.2"
PARENT = "projects/bench/locations/us-central1"
QUEUE = f"{PARENT}/queues/bench"
THREADS = 8
NULL = "null grpcio server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_other_venv() -> Path:
    exe = OTHER_VENV / "bin" / "gcloud-tasks-emulator"
    if not exe.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(OTHER_VENV)], check=True)
        subprocess.run(
            [str(OTHER_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", OTHER],
            check=True,
        )
    return exe


class Worker:
    """Loopback HTTP target that timestamps each request's arrival by its path."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                arrived = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with outer.cond:
                    outer.arrivals[self.path] = arrived
                    outer.cond.notify_all()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, path: str, timeout: float = 10.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: path in self.arrivals, timeout):
                raise TimeoutError(f"no delivery of {path} within {timeout}s")
            return self.arrivals[path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {port} within {timeout}s")


@contextmanager
def running(name: str) -> Iterator[str]:
    port = free_port()
    if name == NULL:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-null", str(port)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
    elif name == "dispatch.emulator":
        cmd = [sys.executable, "-m", "dispatch.emulator", "--port", str(port), "--queue", QUEUE]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
    else:
        exe = ensure_other_venv()
        cmd = [str(exe), "start", "--port", str(port), "--default-queue", QUEUE, "--quiet"]
        env = dict(os.environ)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    try:
        _wait_for_port(port, proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def client(address: str) -> Iterator[tasks_v2.CloudTasksClient]:
    channel = grpc.insecure_channel(address)
    try:
        yield tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    finally:
        channel.close()


def task(url: str) -> dict[str, object]:
    return {"http_request": {"url": url, "body": b'{"episode": 42, "action": "transcribe"}'}}


def create_batch(c: tasks_v2.CloudTasksClient, url: str, per_thread: int, threads: int) -> float:
    """Create ``per_thread`` tasks from each of ``threads`` threads; tasks per second."""

    def produce() -> None:
        for _ in range(per_thread):
            c.create_task(parent=QUEUE, task=task(url))

    workers = [threading.Thread(target=produce) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return per_thread * threads / (time.perf_counter() - start)


def latency(c: tasks_v2.CloudTasksClient, worker: Worker, path: str) -> float:
    sent = time.perf_counter()
    c.create_task(parent=QUEUE, task=task(worker.url + path))
    return worker.wait(path) - sent


def serve_null(port: int) -> None:
    """A CloudTasks server whose CreateTask does nothing: the grpcio + client floor."""
    from concurrent.futures import ThreadPoolExecutor

    answer = tasks_v2.Task.pb()(name=f"{QUEUE}/tasks/1")
    handler = grpc.unary_unary_rpc_method_handler(
        lambda request, context: answer,
        request_deserializer=tasks_v2.CreateTaskRequest.pb().FromString,
        response_serializer=lambda message: message.SerializeToString(),
    )
    # The same server shape as dispatch.emulator's: a 16-thread pool, registered method.
    server = grpc.server(ThreadPoolExecutor(max_workers=16))
    server.add_registered_method_handlers(  # type: ignore[attr-defined]
        "google.cloud.tasks.v2.CloudTasks", {"CreateTask": handler}
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="alternating batches per metric")
    parser.add_argument("--batch", type=int, default=200, help="CreateTask calls per batch")
    parser.add_argument("--latency-tasks", type=int, default=100)
    parser.add_argument("--serve-null", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_null:
        serve_null(args.serve_null)
        return 0
    ensure_other_venv()
    names = ["dispatch.emulator", "gcloud-tasks-emulator 0.6.2"]
    rated = [*names, NULL]
    seq: dict[str, list[float]] = {n: [] for n in rated}
    par: dict[str, list[float]] = {n: [] for n in rated}
    lat: dict[str, list[float]] = {n: [] for n in names}
    worker = Worker()
    # Both emulators run side by side and the batches alternate, so background load on the
    # machine hits both alike; each metric is the median over its batches.
    try:
        with (
            running(names[0]) as a_addr,
            running(names[1]) as b_addr,
            running(NULL) as n_addr,
            client(a_addr) as a,
            client(b_addr) as b,
            client(n_addr) as null,
        ):
            clients = {names[0]: a, names[1]: b}
            for c in clients.values():
                c.pause_queue(name=QUEUE)
                create_batch(c, worker.url + "/warm", 200, 1)
            create_batch(null, worker.url + "/warm", 200, 1)
            rate_clients = {**clients, NULL: null}
            for r in range(args.rounds):
                order = rated[r % 3 :] + rated[: r % 3]
                for name in order:
                    seq[name].append(
                        create_batch(rate_clients[name], worker.url + "/p", args.batch, 1)
                    )
                for name in order:
                    per = max(1, args.batch // THREADS)
                    par[name].append(
                        create_batch(rate_clients[name], worker.url + "/p", per, THREADS)
                    )
            for c in clients.values():
                c.purge_queue(name=QUEUE)
                c.resume_queue(name=QUEUE)
            for i in range(args.latency_tasks):
                order = names if i % 2 == 0 else names[::-1]
                for n, name in enumerate(order):
                    lat[name].append(latency(clients[name], worker, f"/lat/{i}/{n}/{name[:4]}"))
    finally:
        worker.close()

    ours, theirs = names
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{args.rounds} alternating batches of {args.batch} CreateTask calls per rate metric, "
        f"{args.latency_tasks} alternating single-task deliveries per emulator"
    )
    print()
    print("| metric | dispatch.emulator | gcloud-tasks-emulator 0.6.2 | ratio |")
    print("|---|---|---|---|")
    for label, data in (
        ("CreateTask, 1 thread (tasks/s)", seq),
        (f"CreateTask, {THREADS} threads (tasks/s)", par),
    ):
        a, b = statistics.median(data[ours]), statistics.median(data[theirs])
        print(f"| {label} | {a:,.0f} | {b:,.0f} | {a / b:.2f}x |")
    p50 = {n: statistics.median(lat[n]) * 1000 for n in names}
    p90 = {n: sorted(lat[n])[int(len(lat[n]) * 0.9) - 1] * 1000 for n in names}
    print(
        f"| delivery latency p50 (ms) | {p50[ours]:.2f} | {p50[theirs]:.2f} | "
        f"{p50[theirs] / p50[ours]:.1f}x lower |"
    )
    print(
        f"| delivery latency p90 (ms) | {p90[ours]:.2f} | {p90[theirs]:.2f} | "
        f"{p90[theirs] / p90[ours]:.1f}x lower |"
    )
    print()
    print(f"| anchor: {NULL} (CreateTask does nothing) | tasks/s | dispatch.emulator / anchor |")
    print("|---|---|---|")
    for label, data in (("1 thread", seq), (f"{THREADS} threads", par)):
        ceiling = statistics.median(data[NULL])
        share = statistics.median(data[ours]) / ceiling
        print(f"| CreateTask, {label} | {ceiling:,.0f} | {share:.0%} |")
    ok = (
        statistics.median(seq[ours]) >= statistics.median(seq[theirs])
        and statistics.median(par[ours]) >= statistics.median(par[theirs])
        and p50[ours] <= 10.0
    )
    print()
    print("targets (>= 1.0x create rate, p50 <= 10 ms):", "met" if ok else "NOT met")
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
