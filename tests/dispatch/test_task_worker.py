"""The task_worker fixture, run by pytest itself (pytester): real servers, real deliveries.

Each inner test enqueues through ``dispatch`` into the emulator (the real google-cloud-tasks
client over gRPC), which delivers over HTTP to the app that ``task_worker`` serves.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import fastapi
import pytest
import uvicorn

import dispatch._enqueue
import dispatch._tasks_client
import dispatch.emulator

# The inner sessions run in this process, and pytester drops the modules they import when
# each one ends. Those imported here stay: a second session would otherwise pair a new grpc
# with the client cached by dispatch in the first.
SHARED_MODULES = (dispatch._enqueue, dispatch._tasks_client, dispatch.emulator, fastapi, uvicorn)

# Only the plugin under test: the others (taskguard, hypothesis, xdist, anyio) would cost
# seconds of imports in the inner session and have nothing to do with these fixtures.
INNER = ("-p", "no:cacheprovider", "-p", "no:taskguard", "-p", "no:hypothesispytest")
INNER += ("-p", "no:xdist", "-p", "no:anyio")

ASGI_APP = """
    received = []


    async def app(scope, receive, send):
        assert scope["type"] in ("http", "lifespan")
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = 500 if scope["path"] == "/tasks/boom" else 200
        if status == 200:
            received.append((scope["path"], json.loads(body)))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
"""


def run_inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*INNER, *args)


def test_an_asgi_app_named_by_the_marker_receives_the_task_and_everything_is_restored(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKS_BASE_URL", "http://outer.example")
    pytester.makepyfile(
        "import json\nimport os\nimport socket\n\nimport pytest\n\nfrom dispatch import "
        "enqueue_http_task\n"
        + textwrap.dedent(ASGI_APP)
        + textwrap.dedent(
            """
            PORTS = []


            @pytest.mark.task_worker(app=app)
            def test_delivered(task_worker, cloud_tasks_emulator):
                assert os.environ["TASKS_BASE_URL"] == task_worker.url
                assert task_worker.url.startswith("http://127.0.0.1:")
                assert task_worker.interface == "asgi"
                PORTS.append(task_worker.port)
                name = enqueue_http_task("/tasks/transcribe", {"episode_id": 7})
                (delivery,) = cloud_tasks_emulator.wait_for_deliveries(1, timeout=30)
                assert delivery.status == 200
                assert delivery.url == task_worker.url + "/tasks/transcribe"
                assert name.endswith("/" + delivery.task_id)
                # The handler ran before the delivery was recorded: its effect is visible.
                assert received == [("/tasks/transcribe", {"episode_id": 7})]
                assert [(r.method, r.path, r.status) for r in task_worker.requests] == [
                    ("POST", "/tasks/transcribe", 200)
                ]


            def test_afterwards_the_server_is_gone_and_the_variable_restored():
                assert os.environ["TASKS_BASE_URL"] == "http://outer.example"
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection(("127.0.0.1", PORTS[0]), timeout=5)
            """
        )
    )
    result = run_inner(pytester)
    result.assert_outcomes(passed=2)


def test_a_wsgi_app_from_the_task_worker_app_fixture_sees_tasks_base_url_when_built(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import json
        import os

        import pytest


        @pytest.fixture
        def task_worker_app():
            # Built after TASKS_BASE_URL is set: an app configured from the environment
            # knows its own URL (an OIDC audience, links in responses).
            base_url = os.environ["TASKS_BASE_URL"]
            seen = []

            def app(environ, start_response):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = json.loads(environ["wsgi.input"].read(length))
                seen.append((environ["PATH_INFO"], body, base_url))
                start_response("204 No Content", [])
                return [b""]

            app.seen = seen
            return app
        """
    )
    pytester.makepyfile(
        """
        from dispatch import enqueue_http_task


        def test_delivered(task_worker, cloud_tasks_emulator):
            assert task_worker.interface == "wsgi"
            enqueue_http_task("/tasks/a", {"n": 1}, task_id="a-1")
            enqueue_http_task("/tasks/b", {"n": 2}, task_id="b-1")
            got = cloud_tasks_emulator.wait_for_deliveries(2, timeout=30)
            assert sorted(d.status for d in got) == [204, 204]
            assert sorted(task_worker.app.seen) == [
                ("/tasks/a", {"n": 1}, task_worker.url),
                ("/tasks/b", {"n": 2}, task_worker.url),
            ]
            assert sorted((r.path, r.status) for r in task_worker.requests) == [
                ("/tasks/a", 204),
                ("/tasks/b", 204),
            ]
        """
    )
    run_inner(pytester).assert_outcomes(passed=1)


def test_a_fastapi_factory_named_by_its_import_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        service="""
        import os

        from fastapi import FastAPI

        done = []


        def create_app():
            app = FastAPI()
            app.state.base_url = os.environ["TASKS_BASE_URL"]

            @app.post("/api/tasks/notify")
            async def notify(body: dict) -> dict:
                done.append(body)
                return {"ok": True}

            return app
        """,
        test_service="""
        import pytest

        import service
        from dispatch import enqueue_http_task


        @pytest.mark.task_worker("service:create_app", factory=True)
        def test_delivered(task_worker, cloud_tasks_emulator):
            assert task_worker.app.state.base_url == task_worker.url
            enqueue_http_task("/api/tasks/notify", {"episode": 3})
            (delivery,) = cloud_tasks_emulator.wait_for_deliveries(1, timeout=30)
            assert delivery.status == 200
            assert service.done == [{"episode": 3}]
        """,
    )
    run_inner(pytester, "-p", "pytester").assert_outcomes(passed=1)


def test_a_failing_handler_fails_the_wait_with_what_was_delivered(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        "import json\n\nimport pytest\n\nfrom dispatch import enqueue_http_task\n"
        + textwrap.dedent(ASGI_APP)
        + textwrap.dedent(
            """

            @pytest.mark.task_worker(app=app)
            def test_waits(task_worker, cloud_tasks_emulator):
                enqueue_http_task("/tasks/boom", {"secret": "payload-not-shown"}, task_id="boom-1")
                cloud_tasks_emulator.wait_for_deliveries(
                    1, timeout=1.0, where=lambda d: d.status == 200
                )
            """
        )
    )
    result = run_inner(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*TimeoutError: 0 of 1 expected deliveries were made within 1s*",
            "*deliveries made (*",
            "*POST /tasks/boom task=boom-1 retry=0 -> 500 (http_error)",
            "*tasks still queued: 1",
            "*/tasks/boom task=boom-1 attempts=*",
        ]
    )
    assert "payload-not-shown" not in result.stdout.str().split("TimeoutError", 1)[1]


@pytest.mark.parametrize(
    ("test_source", "expected"),
    [
        (
            "def test_it(task_worker):\n    pass\n",
            "*task_worker needs the app under test. Either define a fixture named task_worker_app*",
        ),
        (
            "import pytest\n\n@pytest.mark.task_worker(app=42)\n"
            "def test_it(task_worker):\n    pass\n",
            "*task_worker: 42 is not an ASGI or WSGI app*",
        ),
        (
            "import pytest\n\n@pytest.mark.task_worker(app=lambda: None)\n"
            "def test_it(task_worker):\n    pass\n",
            "*task_worker: <function <lambda> at *> is neither an ASGI app*",
        ),
        (
            "import pytest\n\n@pytest.mark.task_worker('nowhere.at.all:app')\n"
            "def test_it(task_worker):\n    pass\n",
            "*@pytest.mark.task_worker: No module named 'nowhere'*",
        ),
        (
            "import pytest\n\n@pytest.mark.task_worker('os:path.nothing')\n"
            "def test_it(task_worker):\n    pass\n",
            "*@pytest.mark.task_worker: app 'os:path.nothing': os has no attribute path.nothing",
        ),
        (
            "import pytest\n\n@pytest.mark.task_worker(app='x:y', port=1)\n"
            "def test_it(task_worker):\n    pass\n",
            "*@pytest.mark.task_worker takes one app and factory=True|False*",
        ),
        (
            # The lifespan startup fails: the server never starts, and says so.
            "import pytest\n\n"
            "async def app(scope, receive, send):\n"
            "    await receive()\n"
            "    await send({'type': 'lifespan.startup.failed', 'message': 'no database'})\n\n"
            "@pytest.mark.task_worker(app=app)\n"
            "def test_it(task_worker):\n    pass\n",
            "*task_worker: the ASGI app <function app at *> failed to start: "
            "its lifespan startup failed*",
        ),
    ],
    ids=[
        "no-app",
        "not-callable",
        "wrong-signature",
        "no-module",
        "no-attribute",
        "bad-marker",
        "startup-fails",
    ],
)
def test_a_missing_or_broken_app_is_an_error_that_says_what_to_do(
    pytester: pytest.Pytester, test_source: str, expected: str
) -> None:
    pytester.makepyfile(test_source)
    result = run_inner(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([expected])
    # Said once: not a second time as the exception the failure was raised while handling.
    assert "During handling of the above exception" not in result.stdout.str()


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = run_inner(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.task_worker(app=None, *, factory=False): *"])


def test_the_plugin_imports_nothing_but_pytest_at_load_time() -> None:
    # A fresh interpreter: whatever the plugin pulls in at import shows up in sys.modules.
    code = textwrap.dedent(
        """
        import sys

        import pytest

        before = set(sys.modules)
        import dispatch.pytest_plugin

        print(sorted(set(sys.modules) - before))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "['dispatch', 'dispatch.pytest_plugin']"


def test_each_fixture_imports_what_it_needs_when_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys


        def test_not_yet():
            for name in ("structlog", "dispatch._enqueue", "dispatch.emulator", "uvicorn",
                         "dispatch._task_worker", "grpc"):
                assert name not in sys.modules, name


        def test_capture(enqueued_tasks):
            assert "dispatch._capture" in sys.modules
        """
    )
    # A subprocess: the outer session has imported all of these already.
    result = pytester.runpytest_subprocess(*INNER)
    result.assert_outcomes(passed=2)


def test_the_documented_example_runs_as_written(pytester: pytest.Pytester) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "TASK_DISPATCH.md").read_text()
    section = docs.split("## Testing delivery to your own app", 1)[1]
    block = re.search(r"```python\n(# tests/(\S+)\.py\n.*?)```", section, re.DOTALL)
    assert block is not None, "the complete example test is gone from docs/TASK_DISPATCH.md"
    pytester.makepyfile(**{block.group(2).rsplit("/", 1)[-1]: block.group(1)})
    run_inner(pytester).assert_outcomes(passed=1)


def test_an_app_whose_startup_never_completes_is_reported_and_stopped() -> None:
    from dispatch.testing import TaskWorker

    release = threading.Event()
    threads_before = set(threading.enumerate())

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        while not release.is_set():  # a database that never answers
            await asyncio.sleep(0.01)  # hanging on purpose: the startup under test never ends
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    worker = TaskWorker()
    # The startup gives up first; the database answers later, and only then can the server
    # wind down: start() must wait for that, not leave the thread behind.
    timer = threading.Timer(1.0, release.set)
    timer.start()
    try:
        with pytest.raises(RuntimeError, match=r"did not start within 0\.3s"):
            worker.start(app, timeout=0.3)
    finally:
        timer.cancel()
        release.set()
        timer.join()
    assert [t for t in threading.enumerate() if t not in threads_before] == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", worker.port), timeout=5)


def _post(url: str, path: str) -> int:
    parts = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(parts[0], int(parts[1]), timeout=10)
    try:
        connection.request("POST", path + "?token=not-recorded", body=b"{}")
        return connection.getresponse().status
    finally:
        connection.close()


def test_what_the_app_answered_is_recorded_with_the_class_of_what_it_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dispatch.testing import ServedRequest, TaskWorker

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise ValueError("payload details")
        start_response("202 Accepted", [("Content-Length", "2")])
        return [b"ok"]

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")  # uvicorn then serves without one
        await receive()
        if scope["path"] == "/boom":
            raise KeyError("payload details")
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for app, error in ((wsgi, "ValueError"), (asgi, "KeyError")):
        worker = TaskWorker().start(app)
        try:
            assert [_post(worker.url, "/ok"), _post(worker.url, "/boom")] == [
                202 if app is wsgi else 201,
                500,
            ]
        finally:
            worker.stop()
        assert worker.requests == [
            ServedRequest("POST", "/ok", 202 if app is wsgi else 201),
            ServedRequest("POST", "/boom", None, error),
        ]
        assert "payload details" not in repr(worker.requests)
    capsys.readouterr()  # the servers' tracebacks of the two failures


def test_an_asgi_app_without_uvicorn_says_how_to_get_it_once(pytester: pytest.Pytester) -> None:
    # A fresh interpreter where uvicorn cannot be imported; WSGI apps do not need it.
    pytester.makeconftest("import sys\n\nsys.modules['uvicorn'] = None\n")
    pytester.makepyfile(
        "import pytest\n\n"
        "async def app(scope, receive, send):\n    pass\n\n"
        "@pytest.mark.task_worker(app=app)\n"
        "def test_it(task_worker):\n    pass\n"
    )
    result = pytester.runpytest_subprocess(*INNER)
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "task_worker: ASGI apps are served by uvicorn, which is not importable" in out
    assert "pip install uvicorn" in out
    assert "task_worker: task_worker" not in out
    assert "During handling of the above exception" not in out
