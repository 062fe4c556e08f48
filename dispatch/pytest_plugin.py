"""pytest plugin for dispatch (entry point ``dispatch``): fixtures for testing task dispatch.

- ``enqueued_tasks``: tasks enqueued during the test, recorded instead of sent;
- ``cloud_tasks_emulator``: a Cloud Tasks emulator on a free loopback port, ``TASKS_*`` set;
- ``task_worker``: the app under test served on a free loopback port, ``TASKS_BASE_URL`` set,
  so that tasks sent to the emulator are delivered to it.

pytest imports this module in every test run of every project that has dispatch installed,
before any conftest. So it imports nothing but pytest here: each fixture imports what it
needs when a test uses it. (Anything imported now would be loaded before the taskguard
plugin's guard, and would also slow down every run that does not use these fixtures.)
"""

from __future__ import annotations

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from dispatch._task_worker import TaskWorker
    from dispatch.emulator import Emulator
    from dispatch.testing import TaskCapture

EMULATOR_PROJECT = "taskguard-test"
EMULATOR_LOCATION = "us-central1"
EMULATOR_QUEUE = "default"

_NO_APP = (
    "task_worker needs the app under test. Either define a fixture named task_worker_app "
    "(in conftest.py) that returns your ASGI or WSGI app, or mark the test with "
    "@pytest.mark.task_worker(app=...) (the app object, or 'package.module:attribute'; "
    "factory=True calls it first). TASKS_BASE_URL is already set when either is evaluated."
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "task_worker(app=None, *, factory=False): the ASGI or WSGI app that the task_worker "
        "fixture serves (an object or 'package.module:attribute'; with factory=True it is "
        "called with no arguments, after TASKS_BASE_URL is set). Without the marker, the "
        "task_worker_app fixture provides the app.",
    )


# --- enqueued_tasks: captured tasks (dispatch.testing) ----------------------------------


@pytest.fixture
def enqueued_tasks() -> Iterator[TaskCapture]:
    """Tasks enqueued during the test, recorded instead of sent (validation still runs)."""
    from dispatch.testing import capture_tasks

    with capture_tasks() as captured:
        yield captured


# --- cloud_tasks_emulator: a Cloud Tasks emulator on a free loopback port -----------------


@pytest.fixture
def cloud_tasks_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A running dispatch.emulator with one queue; TASKS_* point at it for the test.

    Sets TASKS_EMULATOR_HOST, TASKS_PROJECT, TASKS_LOCATION and TASKS_QUEUE (and unsets
    TASKS_DRY_RUN, which would bypass the emulator); all are restored afterwards.
    """
    missing = None
    try:
        from dispatch.emulator import Emulator
    except ImportError as exc:  # the cloud extra is not installed
        missing = str(exc)
    if missing is not None:  # failed outside the except clause: reported once, unchained
        pytest.fail(
            "cloud_tasks_emulator needs the cloud extra "
            f"(pip install 'cloud-tasks-guard[cloud]'): {missing}",
            pytrace=False,
        )
    queue = f"projects/{EMULATOR_PROJECT}/locations/{EMULATOR_LOCATION}/queues/{EMULATOR_QUEUE}"
    with Emulator(port=0, queues=[queue]) as emulator:
        monkeypatch.setenv("TASKS_EMULATOR_HOST", emulator.address)
        monkeypatch.setenv("TASKS_PROJECT", EMULATOR_PROJECT)
        monkeypatch.setenv("TASKS_LOCATION", EMULATOR_LOCATION)
        monkeypatch.setenv("TASKS_QUEUE", EMULATOR_QUEUE)
        monkeypatch.delenv("TASKS_DRY_RUN", raising=False)
        yield emulator


# --- task_worker: the app under test on a free loopback port ------------------------------


@pytest.fixture
def task_worker_app() -> object:
    """The ASGI or WSGI app that ``task_worker`` serves: override it in your conftest.py.

    It is evaluated after ``TASKS_BASE_URL`` is set, so an app that reads its settings from
    the environment sees the worker's own URL.
    """
    pytest.fail(_NO_APP, pytrace=False)


def _app_from_marker(marker: pytest.Mark) -> object:
    from dispatch._task_worker import load_app

    if len(marker.args) > 1 or set(marker.kwargs) - {"app", "factory"}:
        pytest.fail(
            "@pytest.mark.task_worker takes one app and factory=True|False, got "
            f"args={marker.args!r} kwargs={sorted(marker.kwargs)!r}",
            pytrace=False,
        )
    if marker.args and "app" in marker.kwargs:
        pytest.fail("@pytest.mark.task_worker: the app is given twice", pytrace=False)
    app = marker.args[0] if marker.args else marker.kwargs.get("app")
    if app is None:
        pytest.fail(_NO_APP, pytrace=False)
    factory = marker.kwargs.get("factory", False)
    if not isinstance(factory, bool):
        pytest.fail("@pytest.mark.task_worker: factory must be True or False", pytrace=False)
    # pytest.fail is called outside the except clause: raised inside it, the report would
    # print the message twice, the second time as the exception being handled.
    problem = None
    if isinstance(app, str):
        try:
            app = load_app(app)
        except (TypeError, ImportError) as exc:
            problem = str(exc)
    if problem is not None:
        pytest.fail(f"@pytest.mark.task_worker: {problem}", pytrace=False)
    if factory:
        if not callable(app):
            pytest.fail(f"@pytest.mark.task_worker: factory {app!r} is not callable", pytrace=False)
        app = app()
    return app


@pytest.fixture
def task_worker(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TaskWorker]:
    """The app under test, served on a free loopback port for the test.

    ``TASKS_BASE_URL`` points at it (restored afterwards), so a task enqueued through
    ``dispatch`` with ``cloud_tasks_emulator`` is delivered to the app; wait for it with
    ``cloud_tasks_emulator.wait_for_deliveries(n, timeout=...)``. ASGI apps are served by
    uvicorn, WSGI apps by wsgiref, each in a thread that is joined at teardown. The app comes
    from ``@pytest.mark.task_worker(app=...)`` or, without the marker, from the
    ``task_worker_app`` fixture.
    """
    from dispatch._task_worker import TaskWorker

    worker = TaskWorker()
    try:
        monkeypatch.setenv("TASKS_BASE_URL", worker.url)
        marker = request.node.get_closest_marker("task_worker")
        if marker is not None:
            app = _app_from_marker(marker)
        else:
            app = request.getfixturevalue("task_worker_app")
        problem = None
        try:
            worker.start(app)
        except (TypeError, RuntimeError) as exc:
            problem = str(exc)
        if problem is not None:
            pytest.fail(f"task_worker: {problem}", pytrace=False)
        yield worker
    finally:
        worker.stop()
