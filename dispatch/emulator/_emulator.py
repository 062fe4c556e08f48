"""The Emulator: a Cloud Tasks v2 gRPC server on loopback, delivering tasks over HTTP."""

from __future__ import annotations

import json
import math
import random
import selectors
import socket
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import grpc
import structlog
from google.cloud import tasks_v2

from dispatch.emulator._clock import Clock, SystemClock, check_clock
from dispatch.emulator._defaults import (
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_QUEUE_REUSE_WINDOW,
    MAX_PORT,
)
from dispatch.emulator._delivery import Delivery, DeliveryLog, Dispatcher
from dispatch.emulator._duplicates import Duplicates
from dispatch.emulator._errors import RpcError
from dispatch.emulator._names import parse_queue_name
from dispatch.emulator._oidc import GOOGLE_ISSUER, OidcSigner
from dispatch.emulator._operations import Operations
from dispatch.emulator._rules import FULL, QueuePb, view_of
from dispatch.emulator._service import METHODS, CloudTasksHandler, Faults, Rpcs
from dispatch.emulator._store import Store

_log = structlog.get_logger("dispatch.emulator")

_MAX_INJECTED_DELAY = 24 * 3600.0
JWKS_PATH = "/oauth2/v3/certs"
PEM_CERTS_PATH = "/oauth2/v1/certs"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class _KeyServer(ThreadingHTTPServer):
    """Serves the verification key; stops at once on :meth:`close` (no polling interval)."""

    # Request threads are joined by server_close(), so stop() leaves none behind.
    daemon_threads = False
    timeout = 0  # handle_request() only after select() said a connection is waiting
    signer: OidcSigner
    issuer_url: str

    def __init__(self, address: tuple[str, int]) -> None:
        # Made first: a failed bind calls server_close(), which closes them too.
        self._wake_r, self._wake_w = socket.socketpair()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _KeyHandler)

    def run(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.socket, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    self.handle_request()

    def close(self) -> None:
        self._wake_w.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake_r.close()
        self._wake_w.close()


class _KeyHandler(BaseHTTPRequestHandler):
    server: _KeyServer
    timeout = 5  # a client that stalls cannot hold stop() for long

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        signer = self.server.signer
        if path == JWKS_PATH:
            payload: Any = signer.jwks()
        elif path == PEM_CERTS_PATH:
            payload = signer.pem_certs()
        elif path == "/.well-known/openid-configuration":
            payload = {
                "issuer": signer.issuer,
                "jwks_uri": self.server.issuer_url + JWKS_PATH,
                "id_token_signing_alg_values_supported": ["RS256"],
                "subject_types_supported": ["public"],
                "response_types_supported": ["id_token"],
            }
        else:
            self.send_error(404)
            return
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class Emulator:
    """A Cloud Tasks v2 emulator: serves the gRPC API and delivers due tasks over HTTP.

    ``queues`` are full queue names created at start. ``dedup_window`` is how long (seconds)
    a task name stays reserved after the task ran or was deleted (24 h by default, the longest
    Google documents). ``min_dispatch_deadline`` is the lower bound CreateTask accepts for
    ``dispatch_deadline`` (15 s, as in Cloud Tasks; tests may lower it to exercise deadlines
    quickly). ``clock`` is the wall clock of everything done by the calendar (a
    :class:`ManualClock` lets a test move it). ``duplicate_deliveries`` (0 to 1) turns on
    at-least-once delivery: that share of successful deliveries is delivered again and due
    tasks leave out of ETA order; ``seed`` makes its choices repeatable. Tokens are signed by
    the emulator's own key, published at :attr:`jwks_url` and by :meth:`public_jwks`; they
    are not Google-signed.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        queues: Iterable[str] = (),
        dedup_window: float = DEFAULT_DEDUP_WINDOW,
        *,
        min_dispatch_deadline: float = 15.0,
        queue_reuse_window: float = DEFAULT_QUEUE_REUSE_WINDOW,
        oidc_issuer: str = GOOGLE_ISSUER,
        max_rpc_workers: int = 16,
        clock: Clock | None = None,
        duplicate_deliveries: float = 0.0,
        seed: int | None = None,
    ) -> None:
        if isinstance(queues, str):
            raise ValueError("queues must be a list of queue names, not one str")
        # A queue named twice is created once: the caller asked for it to exist.
        self.queue_names = tuple(dict.fromkeys(queues))
        for name in self.queue_names:
            if not isinstance(name, str):
                raise ValueError(f"queue names must be str, got {type(name).__name__}")
            try:
                parse_queue_name(name)
            except RpcError as exc:
                raise ValueError(f"{name!r}: {exc.message}") from None
        # "not >= 0" also refuses NaN, which would keep every name reserved forever.
        if not (dedup_window >= 0 and queue_reuse_window >= 0):
            raise ValueError("dedup_window and queue_reuse_window must not be negative or NaN")
        if not 0 < min_dispatch_deadline <= 1800:
            raise ValueError("min_dispatch_deadline must be in (0, 1800] seconds")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
            raise ValueError(f"port must be an int from 0 to {MAX_PORT} (0 picks a free port)")
        if (
            isinstance(duplicate_deliveries, bool)
            or not isinstance(duplicate_deliveries, (int, float))
            or not 0.0 <= duplicate_deliveries <= 1.0
        ):
            raise ValueError(
                "duplicate_deliveries must be a fraction from 0 to 1 (the share of successful "
                "deliveries delivered again)"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be an int or None")
        rng = random.Random(seed)
        self._duplicates = Duplicates(float(duplicate_deliveries), random.Random(rng.random()))
        # In at-least-once mode, due tasks also leave in an order that does not follow ETA.
        self._shuffle = random.Random(rng.random()) if duplicate_deliveries > 0 else None
        # "[::1]" and "::1" name the same interface; the brackets belong to addresses only.
        self.host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        self._requested_port = port
        self._bound_port: int | None = None
        self._dedup_window = dedup_window
        self._queue_reuse_window = queue_reuse_window
        self._min_dispatch_deadline = min_dispatch_deadline
        self._max_rpc_workers = max_rpc_workers
        self._clock: Clock = SystemClock() if clock is None else check_clock(clock)
        self._unsubscribe: Callable[[], None] | None = None
        self._signer = OidcSigner(oidc_issuer)
        self._deliveries = DeliveryLog()
        self._faults = Faults()
        self._rpcs = Rpcs()
        self._stopping = threading.Event()
        self._state_lock = threading.Lock()
        self._started = False
        self._stopped = False
        self._store: Store | None = None
        self._operations: Operations | None = None
        self._dispatcher: Dispatcher | None = None
        self._server: grpc.Server | None = None
        self._rpc_pool: ThreadPoolExecutor | None = None
        self._grpc_threads: list[threading.Thread] = []
        self._key_server: _KeyServer | None = None
        self._key_thread: threading.Thread | None = None
        self._jwks_url = ""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        with self._state_lock:
            if self._started:
                raise RuntimeError("this Emulator was already started; create a new one")
            self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        dispatcher = Dispatcher(
            self._require_store, self._signer, self._deliveries, self._clock, self._duplicates
        )
        self._dispatcher = dispatcher
        self._store = Store(
            dedup_window=self._dedup_window,
            queue_reuse_window=self._queue_reuse_window,
            min_dispatch_deadline=self._min_dispatch_deadline,
            on_queue_added=dispatcher.attach,
            shuffle=self._shuffle,
        )
        self._operations = Operations(self._store)
        self._unsubscribe = self._clock.subscribe(dispatcher.wake_all)
        now = self._clock.time()
        for name in self.queue_names:
            self._store.create_queue(parse_queue_name(name).parent, QueuePb(name=name), now)

        key_server = _KeyServer((self.host, 0))
        key_server.signer = self._signer
        key_port = key_server.server_address[1]
        key_server.issuer_url = f"http://{_bracket(self.host)}:{key_port}"
        self._key_server = key_server
        self._key_thread = threading.Thread(
            target=key_server.run,
            name="tasks-emulator-jwks",
            daemon=True,
        )
        self._key_thread.start()
        self._jwks_url = key_server.issuer_url + JWKS_PATH

        self._rpc_pool = ThreadPoolExecutor(
            max_workers=self._max_rpc_workers, thread_name_prefix="tasks-emulator-rpc"
        )
        server = grpc.server(
            self._rpc_pool,
            options=[
                # Port clashes must fail loudly, not share the port with another process.
                ("grpc.so_reuseport", 0),
                # Larger than any valid task, so an oversized task gets INVALID_ARGUMENT.
                ("grpc.max_receive_message_length", 32 * 1024 * 1024),
            ],
        )
        CloudTasksHandler(
            self._store,
            dispatcher,
            self._operations,
            faults=self._faults,
            rpcs=self._rpcs,
            stopping=self._stopping,
            clock=self._clock,
        ).register(server)
        self._server = server
        target = f"{_bracket(self.host)}:{self._requested_port}"
        try:
            port = server.add_insecure_port(target)
        except RuntimeError as exc:
            raise OSError(f"dispatch.emulator could not bind {target}: {exc}") from exc
        if not port:
            raise OSError(f"dispatch.emulator could not bind {target}")
        self._bound_port = port
        before = set(threading.enumerate())
        server.start()
        # grpc's serving thread is not exposed; remember it so stop() can join it.
        self._grpc_threads = [
            t for t in threading.enumerate() if t not in before and t.name.endswith("(_serve)")
        ]
        _log.info(
            "tasks.emulator.started",
            address=self.address,
            jwks_url=self._jwks_url,
            queues=list(self.queue_names),
        )

    def stop(self) -> None:
        """Stop serving, cut in-flight calls and deliveries, join every thread (idempotent)."""
        with self._state_lock:
            if self._stopped or not self._started:
                self._stopped = True
                return
            self._stopped = True
        self._stopping.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._server is not None:
            # No grace period: with one, grpc leaves a helper thread running past stop().
            self._server.stop(None).wait()
        for thread in self._grpc_threads:
            thread.join(timeout=5.0)
        if self._rpc_pool is not None:
            self._rpc_pool.shutdown(wait=True)
        if self._dispatcher is not None:
            self._dispatcher.stop()
        if self._key_server is not None:
            self._key_server.close()
        if self._key_thread is not None:
            self._key_thread.join()
        if self._key_server is not None:
            self._key_server.server_close()
        if self._bound_port is not None:
            _log.info("tasks.emulator.stopped", address=self.address)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        return self._bound_port if self._bound_port is not None else self._requested_port

    @property
    def address(self) -> str:
        """host:port of the gRPC server: the value for TASKS_EMULATOR_HOST."""
        if self._bound_port is None:
            raise RuntimeError("the Emulator is not started")
        return f"{_bracket(self.host)}:{self._bound_port}"

    @property
    def jwks_url(self) -> str:
        """URL of the JSON Web Key Set that verifies the emulator's OIDC tokens."""
        if not self._jwks_url:
            raise RuntimeError("the Emulator is not started")
        return self._jwks_url

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS (``{"keys": [...]}``) of the key that signs delivery OIDC tokens."""
        return self._signer.jwks()

    def public_pem_certs(self) -> dict[str, str]:
        """``{kid: PEM public key}``, the shape ``google.auth.jwt.decode(certs=...)`` takes."""
        return self._signer.pem_certs()

    # -- fault injection -----------------------------------------------------------------------

    def fail_next(
        self,
        n: int,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        *,
        method: str = "CreateTask",
        after_commit: bool = False,
    ) -> None:
        """Make the next ``n`` calls of ``method`` fail with ``code``.

        With ``after_commit=True`` the call takes effect first (the task is created) and the
        error is answered afterwards: the "did my request land?" case of a lost response.
        """
        _check_method(method)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError("n must be a positive int")
        if not isinstance(code, grpc.StatusCode) or code is grpc.StatusCode.OK:
            raise ValueError("code must be a grpc.StatusCode other than OK")
        self._faults.fail(method, n, code, after_commit)

    def delay_next(self, n: int, seconds: float, *, method: str = "CreateTask") -> None:
        """Make the next ``n`` calls of ``method`` wait ``seconds`` before they are served.

        The call still takes effect after the wait, even if the client gave up meanwhile.
        """
        _check_method(method)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError("n must be a positive int")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not 0 <= seconds <= _MAX_INJECTED_DELAY
        ):
            # NaN or inf would reach Event.wait(), which refuses them in a gRPC thread.
            raise ValueError(
                f"seconds must be a number from 0 to {_MAX_INJECTED_DELAY:g} (not negative)"
            )
        self._faults.delay(method, n, float(seconds))

    def duplicate_next(self, n: int = 1) -> None:
        """Deliver each of the next ``n`` successful deliveries a second time.

        The redelivery is the same request with the same ``X-CloudTasks-*`` headers (a fresh
        OIDC token), sent right after the worker answered the first one 2xx, as Cloud Tasks
        does when it delivers a task twice. Works whatever ``duplicate_deliveries`` is.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError("n must be a positive int")
        self._duplicates.add(n)

    def defer_operations(self, n: int = 1, *, polls: int = 1) -> None:
        """Answer the next ``n`` BatchCreateTasks calls with a running operation.

        The tasks are created as usual, but the operation says RUNNING (no result) until
        GetOperation has been called ``polls`` times for it; that call and the later ones
        return it done. Cloud Tasks may answer a running operation: this exercises the
        client's polling. A retry with the same ``request_id`` sees the same state.
        """
        for value, what in ((n, "n"), (polls, "polls")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{what} must be a positive int")
        self._require_operations().defer(n, polls)

    def _require_operations(self) -> Operations:
        if self._operations is None:
            raise RuntimeError("the Emulator is not started")
        return self._operations

    @property
    def duplicate_deliveries(self) -> float:
        """The share of successful deliveries delivered again (0: exactly once)."""
        return self._duplicates.rate

    def clear_faults(self) -> None:
        """Drop every fault still pending, ``duplicate_next`` redeliveries and
        ``defer_operations`` included."""
        self._faults.clear()
        self._duplicates.clear()
        if self._operations is not None:
            self._operations.clear_deferred()

    # -- the calls it serves ---------------------------------------------------------------------

    def rpcs_received(self, method: str | None = None) -> int:
        """How many calls of ``method`` (of every served method, by default) have arrived.

        A call counts as soon as it reaches the emulator, before an injected delay holds it
        or an injected failure answers it: poll this (with a deadline) to know that a call
        was made, e.g. before cancelling the client that made it.
        """
        if method is not None:
            _check_method(method)
        return self._rpcs.received(method)

    def rpcs_in_flight(self, method: str | None = None) -> int:
        """How many calls of ``method`` (of every served method) are being served right now,
        held by ``delay_next`` included. Never blocks: an ``async def`` test can poll it."""
        if method is not None:
            _check_method(method)
        return sum(self._rpcs.in_flight(method).values())

    def wait_rpcs_idle(self, timeout: float = 10.0) -> None:
        """Block until no call is being served, then return.

        A call the client gave up on (its deadline passed while ``delay_next`` held it)
        still takes effect when the hold ends; after this returns, every such call has
        landed. Raises TimeoutError naming the methods still in flight when that does not
        happen within ``timeout`` seconds. It blocks: from ``async def`` code, poll
        :meth:`rpcs_in_flight` instead.
        """
        _check_timeout(timeout)
        left = self._rpcs.wait_idle(timeout)
        if left:
            raise TimeoutError(
                f"calls still being served after {timeout:g}s: "
                + ", ".join(f"{method} x{count}" for method, count in left.items())
            )

    # -- inspection ------------------------------------------------------------------------------

    def _require_store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the Emulator is not started")
        return self._store

    def deliveries(self) -> list[Delivery]:
        """Every HTTP attempt made so far, oldest first (the last 100,000)."""
        return self._deliveries.snapshot()

    def wait_for_deliveries(
        self,
        count: int = 1,
        *,
        timeout: float = 10.0,
        where: Callable[[Delivery], bool] | None = None,
    ) -> list[Delivery]:
        """Block until ``count`` deliveries (matching ``where``) were made; return them.

        Raises TimeoutError when they were not made within ``timeout`` seconds; its message
        lists the deliveries that were made and the tasks still queued, so a failed test
        says what happened instead.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be an int, 0 or more, got {count!r}")
        _check_timeout(timeout)
        try:
            return self._deliveries.wait_for(count, where, timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self._what_happened()}") from None

    def _what_happened(self) -> str:
        # Method, path, status and outcome only: bodies, headers and tokens stay out of
        # test reports. The last 20 are enough to see a failing handler or a wrong URL.
        made = self.deliveries()
        lines = [f"deliveries made ({len(made)}):" if made else "no delivery was made"]
        lines.extend(
            f"  {d.method} {urlsplit(d.url).path} task={d.task_id} retry={d.retry_count} -> "
            f"{d.status if d.status is not None else '-'} ({d.outcome})"
            for d in made[-20:]
        )
        queued = self.tasks() if self._store is not None else []
        lines.append(f"tasks still queued: {len(queued)}")
        lines.extend(
            f"  {t.http_request.url and urlsplit(t.http_request.url).path} "
            f"task={t.name.rsplit('/', 1)[-1]} attempts={t.dispatch_count}"
            for t in queued[:20]
        )
        return "\n".join(lines)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until no task is stored and no delivery is in flight, duplicates included.

        Then nothing more will be delivered until a task is created. Raises TimeoutError
        (listing what is left) when that does not happen within ``timeout`` seconds, e.g.
        for a task scheduled later, failing with long backoffs, or on a paused queue.
        """
        _check_timeout(timeout)
        store = self._require_store()
        if store.wait_idle(timeout):
            return
        left = self.tasks()
        raise TimeoutError(
            f"the emulator was not idle within {timeout:g}s: {len(left)} task(s) stored "
            f"({', '.join(t.name.rsplit('/', 1)[-1] for t in left[:5])}"
            f"{', ...' if len(left) > 5 else ''})"
        )

    def tasks(self, queue: str | None = None) -> list[tasks_v2.Task]:
        """The tasks stored now (FULL view), for one queue or all."""
        store = self._require_store()
        with store.lock:
            states = [
                state
                for q in store.queues.values()
                if queue is None or q.name == queue
                for state in q.tasks.values()
            ]
            return [tasks_v2.Task.wrap(view_of(s.pb, FULL)) for s in states]

    def queues(self) -> list[tasks_v2.Queue]:
        """The queues that exist now."""
        store = self._require_store()
        with store.lock:
            out = []
            for q in store.queues.values():
                pb = QueuePb()
                pb.CopyFrom(q.pb)
                out.append(tasks_v2.Queue.wrap(pb))
            return out


def _check_timeout(timeout: object) -> None:
    # A NaN timeout made the wait block forever (and inf overflows the lock's timeout): a
    # test must fail, never hang.
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
    ):
        raise ValueError(f"timeout must be a finite number of seconds, got {timeout!r}")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of: {', '.join(METHODS)}")
