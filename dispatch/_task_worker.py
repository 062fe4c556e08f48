"""The app under test, served on a loopback port so Cloud Tasks deliveries can reach it.

Used by the ``task_worker`` fixture of ``dispatch.pytest_plugin``. An ASGI app is served by
uvicorn in a thread, a WSGI app by the standard library's wsgiref (threaded). The socket is
bound first, so the URL is known (and ``TASKS_BASE_URL`` can be set) before the app is
built, and no other process can take the port in between. Servers are imported only when
an app of their kind is served: a WSGI project needs no uvicorn.
"""

from __future__ import annotations

import contextlib
import inspect
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

Interface = Literal["asgi", "wsgi"]

DEFAULT_STARTUP_TIMEOUT = 10.0
# How long stop() lets requests in flight finish before cutting them.
_GRACEFUL_SHUTDOWN = 5.0


@dataclass(frozen=True)
class ServedRequest:
    """One request the app answered: method, path (no query string) and status.

    ``status`` is ``None`` when the app raised before it started a response; ``error`` is
    then the exception's class name (its message is not kept: it may quote the payload).
    """

    method: str
    path: str
    status: int | None
    error: str | None = None


def interface_of(app: object) -> Interface:
    """``"asgi"`` for ``async def app(scope, receive, send)``, ``"wsgi"`` for
    ``app(environ, start_response)``; TypeError for anything else."""
    if not callable(app):
        raise TypeError(
            f"{app!r} is not an ASGI or WSGI app: expected `async def app(scope, receive, "
            "send)` (FastAPI, Starlette, ...) or `app(environ, start_response)` (Flask, "
            "Django's get_wsgi_application(), ...)"
        )
    # A coroutine function, or an instance of a class whose __call__ is one (FastAPI).
    if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(type(app).__call__):
        return "asgi"
    try:
        signature = inspect.signature(app)
        signature.bind(object(), object())
    except (TypeError, ValueError):
        pass
    else:
        return "wsgi"
    raise TypeError(
        f"{app!r} is neither an ASGI app (`async def app(scope, receive, send)`) nor a WSGI "
        "app (`app(environ, start_response)`)"
    )


def load_app(spec: str) -> object:
    """``"package.module:attribute"`` (uvicorn's notation) -> the object it names."""
    import importlib

    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise TypeError(f"app {spec!r} must be written 'package.module:attribute'")
    module = importlib.import_module(module_name)
    value: object = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise TypeError(f"app {spec!r}: {module_name} has no attribute {attribute}") from None
    return value


class TaskWorker:
    """The app under test on ``http://127.0.0.1:PORT``: what ``task_worker`` yields.

    ``url`` is the base URL (the value of ``TASKS_BASE_URL`` during the test); ``requests``
    lists what the app answered, in order.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.bind((host, 0))
        except OSError:
            self._socket.close()
            raise
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"http://{shown}:{self.port}"
        self.app: object = None
        self.interface: Interface | None = None
        self._served: list[ServedRequest] = []
        self._served_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._stop: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<TaskWorker {self.interface or 'idle'} app at {self.url}>"

    @property
    def requests(self) -> list[ServedRequest]:
        """Every request the app answered so far, oldest first."""
        with self._served_lock:
            return list(self._served)

    def _record(self, request: ServedRequest) -> None:
        with self._served_lock:
            self._served.append(request)

    # -- serving ---------------------------------------------------------------------------

    def start(self, app: object, *, timeout: float = DEFAULT_STARTUP_TIMEOUT) -> TaskWorker:
        """Serve ``app`` on the bound port; return once it accepts requests.

        Raises TypeError for something that is not an app, RuntimeError when the server
        did not start (a failing lifespan startup, say) within ``timeout`` seconds.
        """
        if self._thread is not None:
            raise RuntimeError("this TaskWorker already serves an app")
        interface = interface_of(app)
        self.app, self.interface = app, interface
        start = self._start_asgi if interface == "asgi" else self._start_wsgi
        thread, ready = start(app)
        deadline = time.monotonic() + timeout
        while not ready():
            if not thread.is_alive():
                self.stop()
                if isinstance(self._failure, SystemExit):  # uvicorn's way to say it
                    why = "its lifespan startup failed"
                elif self._failure is None:
                    why = "the server stopped on its own"
                else:
                    why = repr(self._failure)
                raise RuntimeError(
                    f"the {interface.upper()} app {app!r} failed to start: {why} "
                    "(the captured log says more)"
                )
            if time.monotonic() >= deadline:
                with contextlib.suppress(RuntimeError):
                    # A server stuck in its startup may not stop either; the error below
                    # says what matters.
                    self.stop()
                raise RuntimeError(
                    f"the app {app!r} did not start within {timeout:g}s "
                    "(a lifespan startup that never completes?)"
                )
            # Waiting on the thread, not sleeping: returns at once if the server dies.
            thread.join(0.01)
        return self

    def _run(self, target: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # uvicorn reports a failed startup as SystemExit
                self._failure = exc

        return run

    def _start_asgi(self, app: Any) -> tuple[threading.Thread, Callable[[], bool]]:
        try:
            import uvicorn
        except ImportError as exc:
            raise RuntimeError(
                f"ASGI apps are served by uvicorn, which is not importable ({exc}): "
                "pip install uvicorn"
            ) from None
        worker = self

        async def recorded(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            status: int | None = None
            done = False

            def record(error: str | None = None) -> None:
                nonlocal done
                if not done:
                    done = True
                    worker._record(ServedRequest(scope["method"], scope["path"], status, error))

            async def send_recorded(message: Any) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                elif message["type"] == "http.response.body" and not message.get("more_body"):
                    # Before the last byte leaves: whoever got the response (the emulator,
                    # then the test waiting on it) must find the request recorded.
                    record()
                await send(message)

            try:
                await app(scope, receive, send_recorded)
            except BaseException as exc:
                record(type(exc).__name__)
                raise
            record()

        config = uvicorn.Config(
            recorded,
            # Leave the test process's logging alone: no dictConfig, no level changes.
            log_config=None,
            log_level=None,
            # Task deliveries are plain HTTP; this also keeps optional websocket libraries
            # (and their deprecation warnings) out of the test run.
            ws="none",
            timeout_graceful_shutdown=int(_GRACEFUL_SHUTDOWN),
        )
        server = uvicorn.Server(config)

        def stop() -> None:
            server.should_exit = True

        self._stop = stop
        thread = self._thread = threading.Thread(
            target=self._run(lambda: server.run(sockets=[self._socket])),
            name=f"task-worker-{self.port}",
            daemon=True,
        )
        thread.start()
        return thread, lambda: server.started

    def _start_wsgi(self, app: Any) -> tuple[threading.Thread, Callable[[], bool]]:
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

        worker = self

        class Server(ThreadingMixIn, WSGIServer):
            # Request threads are joined by server_close(): stop() leaves none behind.
            daemon_threads = False

        class Handler(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

        def recorded(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
            status: list[int] = []

            def start(status_line: str, headers: Any, exc_info: Any = None) -> Any:
                status[:] = [int(status_line.split(" ", 1)[0])]
                return start_response(status_line, headers, exc_info)

            try:
                body = app(environ, start)
            except BaseException as exc:
                worker._record(
                    ServedRequest(method, path, status[0] if status else None, type(exc).__name__)
                )
                raise
            return _RecordedBody(
                body,
                lambda error: worker._record(
                    ServedRequest(method, path, status[0] if status else None, error)
                ),
            )

        server = Server(self._socket.getsockname()[:2], Handler, bind_and_activate=False)
        # Use the socket bound in __init__: the port cannot change hands in between.
        server.socket.close()
        server.socket = self._socket
        server.server_address = self._socket.getsockname()
        server.server_name, server.server_port = self.host, self.port
        server.server_activate()
        server.setup_environ()
        server.set_app(recorded)
        started = threading.Event()

        def serve() -> None:
            started.set()
            server.serve_forever(poll_interval=0.05)

        def stop() -> None:
            server.shutdown()
            server.server_close()

        self._stop = stop
        thread = self._thread = threading.Thread(
            target=self._run(serve), name=f"task-worker-{self.port}", daemon=True
        )
        thread.start()
        return thread, started.is_set

    def stop(self) -> None:
        """Stop serving, let requests in flight finish, join the server thread (idempotent)."""
        stop, self._stop = self._stop, None
        thread = self._thread
        try:
            if stop is not None and thread is not None and thread.is_alive():
                stop()
            if thread is not None:
                thread.join(_GRACEFUL_SHUTDOWN * 2)
                if thread.is_alive():
                    raise RuntimeError(f"the task worker at {self.url} did not stop")
        finally:
            self._socket.close()


class _RecordedBody:
    """A WSGI response body that records its request before the server sends the last chunk.

    One chunk is read ahead, so the last one is known before it is handed over: whoever
    got the whole response (the emulator, then the test waiting on it) must find the
    request recorded already.
    """

    def __init__(self, body: Iterable[bytes], record: Callable[[str | None], None]) -> None:
        self._body = body
        self._record = record
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            chunks = iter(self._body)
            pending = next(chunks, None)
            while pending is not None:
                following = next(chunks, None)
                if following is None:
                    self._finish(None)
                yield pending
                pending = following
        except GeneratorExit:  # the server stopped reading: not the app's error
            self._finish(None)
            raise
        except BaseException as exc:
            self._finish(type(exc).__name__)
            raise
        self._finish(None)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(None)

    def _finish(self, error: str | None) -> None:
        if not self._done:
            self._done = True
            self._record(error)
