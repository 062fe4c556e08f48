"""Delivery: one pump thread and one worker pool per queue, sending tasks over HTTP."""

from __future__ import annotations

import collections
import contextlib
import heapq
import http.client
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import structlog

from dispatch.emulator._clock import Clock
from dispatch.emulator._duplicates import Duplicates
from dispatch.emulator._oidc import OidcSigner
from dispatch.emulator._store import Attempt, QueueState, Result, Store, TokenWait

_log = structlog.get_logger("dispatch.emulator")

# A response body is read (so the connection can be reused) up to this size, then dropped.
_MAX_RESPONSE_READ = 1024 * 1024
_MAX_RECORDED = 100_000
# A connection that takes longer than this is a failed attempt, whatever the deadline.
_MAX_CONNECT = 10.0
_CANCELLED = Result(None, "cancelled", detail="emulator stopping")
_MAX_PUMP_WAIT = 3600.0


class Headers(Mapping[str, str]):
    """Read-only request headers: looked up case-insensitively, as HTTP defines them;
    iterated with the names as sent."""

    __slots__ = ("_items", "_lower")

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._items = dict(headers)
        self._lower = {name.lower(): value for name, value in self._items.items()}

    def __getitem__(self, name: str) -> str:
        if name in self._items:
            return self._items[name]
        if isinstance(name, str):
            return self._lower[name.lower()]
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lower

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True)
class Delivery:
    """One HTTP attempt the emulator made, as the worker saw it (kept in memory for tests)."""

    queue: str
    task: str
    task_id: str
    url: str
    method: str
    headers: Mapping[str, str]
    body: bytes
    retry_count: int
    status: int | None
    outcome: str
    dispatched_at: float
    responded_at: float
    duplicate: bool = False  # a redelivery of a success (at-least-once mode)


class DeliveryLog:
    """The deliveries made so far, with a way to wait for more."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: collections.deque[Delivery] = collections.deque(maxlen=_MAX_RECORDED)
        self._total = 0
        self._waiting = 0

    def add(self, item: Delivery) -> None:
        with self._cond:
            self._items.append(item)
            self._total += 1
            if self._waiting:
                self._cond.notify_all()

    def snapshot(self) -> list[Delivery]:
        with self._cond:
            return list(self._items)

    def wait_for(
        self, count: int, where: Callable[[Delivery], bool] | None, timeout: float
    ) -> list[Delivery]:
        """Block until ``count`` deliveries matching ``where`` were recorded; return those.

        Each delivery is looked at once, however many arrive while waiting.
        """
        deadline = time.monotonic() + timeout
        matched: list[Delivery] = []
        seen = 0  # deliveries (by sequence number) already looked at
        with self._cond:
            while True:
                first_kept = self._total - len(self._items)
                for item in itertools.islice(self._items, max(seen - first_kept, 0), None):
                    if where is None or where(item):
                        matched.append(item)
                seen = self._total
                if len(matched) >= count:
                    return matched
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(matched)} of {count} expected deliveries were made "
                        f"within {timeout:g}s ({self._total} in all)"
                    )
                self._waiting += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self._waiting -= 1


class DeadlineWatchdog:
    """Cuts the socket of an attempt that outlives its dispatch deadline.

    Socket timeouts bound each read; this bounds the whole request, so a handler that
    trickles bytes cannot hold a worker past the deadline either.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._live: dict[int, socket.socket] = {}
        self._expired: dict[int, str] = {}
        self._ids = itertools.count(1)
        self._stopping = False
        self._aborted = False
        self._thread = threading.Thread(
            target=self._run, name="tasks-emulator-deadlines", daemon=True
        )
        self._thread.start()

    def register(self, sock: socket.socket, deadline: float) -> int:
        with self._cond:
            token = next(self._ids)
            if self._aborted:
                self._expired[token] = "cancelled"
                _shutdown(sock)
                return token
            self._live[token] = sock
            heapq.heappush(self._heap, (deadline, token, sock))
            self._cond.notify()
            return token

    def release(self, token: int) -> str | None:
        """Forget an attempt; why it was cut ("deadline_exceeded", "cancelled"), if it was."""
        with self._cond:
            self._live.pop(token, None)
            return self._expired.pop(token, None)

    def _run(self) -> None:
        with self._cond:
            while not self._stopping:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, token, sock = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._live.pop(token, None)
                self._expired[token] = "deadline_exceeded"
                _shutdown(sock)

    def abort_all(self) -> None:
        """Cut every request in flight, and every one started from now on (shutdown)."""
        with self._cond:
            self._aborted = True
            for token, sock in list(self._live.items()):
                self._expired[token] = "cancelled"
                _shutdown(sock)
            self._live.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _ConnectionPool:
    """Keep-alive connections, one set per worker thread, all closed on stop."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: set[http.client.HTTPConnection] = set()
        self._ssl: ssl.SSLContext | None = None

    def get(
        self, scheme: str, host: str, port: int | None
    ) -> tuple[http.client.HTTPConnection, bool]:
        cache: dict[tuple[str, str, int | None], http.client.HTTPConnection]
        cache = self._local.__dict__.setdefault("conns", {})
        key = (scheme, host, port)
        conn = cache.get(key)
        if conn is not None:
            return conn, True
        if scheme == "https":
            with self._lock:
                if self._ssl is None:
                    self._ssl = ssl.create_default_context()
                context = self._ssl
            conn = http.client.HTTPSConnection(host, port, context=context)
        else:
            conn = http.client.HTTPConnection(host, port)
        cache[key] = conn
        with self._lock:
            self._all.add(conn)
        return conn, False

    def discard(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        cache = self._local.__dict__.get("conns", {})
        for key, value in list(cache.items()):
            if value is conn:
                del cache[key]
        with self._lock:
            self._all.discard(conn)

    def close_all(self) -> None:
        with self._lock:
            conns = list(self._all)
            self._all.clear()
        for conn in conns:
            conn.close()


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    # isdigit() alone accepts "²", which float() refuses.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


class Dispatcher:
    """Runs the queues: a pump per queue picks due tasks, its worker pool sends them."""

    def __init__(
        self,
        store_ref: Callable[[], Store],
        signer: OidcSigner,
        log: DeliveryLog,
        clock: Clock,
        duplicates: Duplicates,
    ):
        self._store_ref = store_ref
        self._clock = clock
        self._duplicates = duplicates
        self._signer = signer
        self._log = log
        self._pool = _ConnectionPool()
        self._watchdog = DeadlineWatchdog()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._executors: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    def attach(self, queue: QueueState) -> None:
        """Start the queue's pump (called with the store lock held)."""
        executor = ThreadPoolExecutor(
            max_workers=5000, thread_name_prefix=f"tasks-emulator-{queue.short}"
        )
        queue.runner = executor
        thread = threading.Thread(
            target=self._pump, args=(queue,), name=f"tasks-emulator-pump-{queue.short}", daemon=True
        )
        with self._lock:
            self._executors.append(executor)
            self._threads.append(thread)
        thread.start()

    def _pump(self, queue: QueueState) -> None:
        store = self._store_ref()
        while True:
            with store.lock:
                while True:
                    if self._stopping or queue.deleted:
                        return
                    step = store.next_attempt(queue, self._clock.time())
                    if isinstance(step, Attempt):
                        break
                    if step is None or isinstance(step, TokenWait):
                        wait = step.seconds if step is not None else None
                    else:
                        # Time to an ETA is on the emulator's clock: a manual clock has no
                        # real duration for it (None), and its advance() wakes every pump.
                        wait = self._clock.wait_hint(step)
                    # Bounded: an ETA years ahead (a long Retry-After or max_backoff) is
                    # past threading.TIMEOUT_MAX, and an OverflowError here would kill
                    # the queue's only pump.
                    queue.cond.wait(None if wait is None else min(wait, _MAX_PUMP_WAIT))
            # Handed over without the lock: workers finishing attempts need it, and a
            # worker that is waiting for it is not idle, so the pool would grow instead.
            started = self._clock.time()
            if not self._submit(queue, step, started):
                self._settle(step, _CANCELLED, started)

    def _submit(self, queue: QueueState, attempt: Attempt, started: float) -> bool:
        """Hand an attempt to the queue's pool; False once the pool is shut down."""
        try:
            queue.runner.submit(self._work, attempt, started)
        except RuntimeError:
            return False
        return True

    def run_now(self, attempt: Attempt, started: float) -> None:
        """Send a RunTask attempt on the task's queue pool, outside its rate limits."""
        if not self._submit(attempt.task.queue, attempt, started):
            self._settle(attempt, _CANCELLED, started)

    def wake_all(self) -> None:
        """Wake every pump: the clock moved, so due times must be looked at again."""
        store = self._store_ref()
        with store.lock:
            for queue in store.queues.values():
                queue.cond.notify_all()

    def _work(self, attempt: Attempt, started: float) -> None:
        if self._deliver(attempt, started, duplicate=False):
            # At least once: the same request again, headers and all (a fresh token), as
            # Cloud Tasks sends when it delivers a task twice. It holds the original's slot.
            try:
                if not self._stopping:
                    self._deliver(attempt, started, duplicate=True)
            finally:
                store = self._store_ref()
                with store.lock:
                    store.release_slot(attempt)

    def _deliver(self, attempt: Attempt, started: float, *, duplicate: bool) -> bool:
        """Send the attempt, record and log it; True when it is to be delivered again."""
        dispatched = self._clock.time()
        headers = dict(attempt.headers)
        if attempt.oidc_email is not None:
            token = self._signer.token(attempt.oidc_email, attempt.oidc_audience)
            headers["Authorization"] = "Bearer " + token
        try:
            result = self._send(attempt, headers)
        except Exception as exc:  # a worker never dies: the attempt fails
            result = Result(None, "connection_error", detail=f"{type(exc).__name__}: {exc}")
        responded = self._clock.time()
        self._log.add(
            Delivery(
                queue=attempt.queue_name,
                task=attempt.task_name,
                task_id=attempt.task.task_id,
                url=attempt.url,
                method=attempt.method,
                headers=Headers(headers),
                body=attempt.body,
                retry_count=attempt.retry_count,
                status=result.status,
                outcome=result.outcome,
                dispatched_at=dispatched,
                responded_at=responded,
                duplicate=duplicate,
            )
        )
        if duplicate:
            # The task is settled already; whatever the worker answers changes nothing.
            fate, redeliver = "duplicate", False
        else:
            fate, redeliver = self._settle(attempt, result, started)
        parts = urlsplit(attempt.url)
        _log.info(
            "tasks.emulator.delivery",
            queue=attempt.task.queue.short,
            task=attempt.task.task_id,
            method=attempt.method,
            target=f"{parts.scheme}://{parts.netloc}{parts.path}",
            retry_count=attempt.retry_count,
            status=result.status,
            outcome=result.outcome,
            fate=fate,
            duration_ms=round((responded - dispatched) * 1000, 3),
        )
        if fate == "failed":
            _log.warning(
                "tasks.emulator.task_failed",
                queue=attempt.task.queue.short,
                task=attempt.task.task_id,
                attempts=attempt.retry_count + 1,
            )
        return redeliver

    def _settle(self, attempt: Attempt, result: Result, started: float) -> tuple[str, bool]:
        """The task's fate after this result, and whether the attempt goes out again."""
        redeliver = result.success and self._duplicates.take()
        store = self._store_ref()
        with store.lock:
            fate = store.finish_attempt(
                attempt, result, started, self._clock.time(), redeliver=redeliver
            )
        return fate, redeliver and fate == "done"

    def _send(self, attempt: Attempt, headers: dict[str, str]) -> Result:
        parts = urlsplit(attempt.url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host = parts.hostname or ""
        deadline_at = time.monotonic() + attempt.deadline
        body = attempt.body if attempt.body or attempt.method in ("POST", "PUT", "PATCH") else None
        for _ in range(2):
            conn, reused = self._pool.get(parts.scheme.lower(), host, parts.port)
            remaining = deadline_at - time.monotonic()
            if remaining <= 0:
                self._pool.discard(conn)
                return Result(None, "deadline_exceeded", detail="dispatch deadline exceeded")
            try:
                if conn.sock is None:
                    conn.timeout = min(remaining, _MAX_CONNECT)
                    conn.connect()
                sock = conn.sock
                assert sock is not None
                sock.settimeout(remaining)
            except TimeoutError:
                self._pool.discard(conn)
                return Result(None, "deadline_exceeded", detail="dispatch deadline exceeded")
            except OSError as exc:
                self._pool.discard(conn)
                return Result(None, "connection_error", detail=f"{type(exc).__name__}: {exc}")
            token = self._watchdog.register(sock, deadline_at)
            got_response = False
            try:
                conn.putrequest(attempt.method, path, skip_accept_encoding=True)
                for key, value in headers.items():
                    conn.putheader(key, value)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                response = conn.getresponse()
                got_response = True
                status = response.status
                retry_after = _retry_after(response.getheader("Retry-After"), self._clock.time())
                data = response.read(_MAX_RESPONSE_READ + 1)
                if len(data) > _MAX_RESPONSE_READ or response.will_close:
                    self._pool.discard(conn)
            except TimeoutError:
                cut = self._watchdog.release(token)
                self._pool.discard(conn)
                return _cut_result(cut or "deadline_exceeded")
            except (http.client.HTTPException, OSError) as exc:
                cut = self._watchdog.release(token)
                self._pool.discard(conn)
                if cut:
                    return _cut_result(cut)
                if reused and not got_response and _stale_connection_error(exc):
                    continue  # a keep-alive connection the server had closed: once more, fresh
                return Result(None, "connection_error", detail=f"{type(exc).__name__}: {exc}")
            cut = self._watchdog.release(token)
            if cut:
                self._pool.discard(conn)
                return _cut_result(cut)
            outcome = "success" if 200 <= status <= 299 else "http_error"
            return Result(status, outcome, retry_after=retry_after)
        return Result(None, "connection_error", detail="connection closed by the target")

    def stop(self) -> None:
        self._stopping = True
        store = self._store_ref()
        with store.lock:
            for queue in store.queues.values():
                queue.cond.notify_all()
        with self._lock:
            threads = list(self._threads)
            executors = list(self._executors)
        for thread in threads:
            thread.join()
        # Hung handlers must not hold up shutdown: cut every in-flight request.
        self._watchdog.abort_all()
        for executor in executors:
            executor.shutdown(wait=True, cancel_futures=True)
        self._watchdog.stop()
        self._pool.close_all()


def _cut_result(reason: str) -> Result:
    if reason == "cancelled":
        return _CANCELLED
    return Result(None, "deadline_exceeded", detail="dispatch deadline exceeded")


def _stale_connection_error(exc: BaseException) -> bool:
    return isinstance(
        exc,
        (
            http.client.RemoteDisconnected,
            BrokenPipeError,
            ConnectionResetError,
            ConnectionAbortedError,
        ),
    )
