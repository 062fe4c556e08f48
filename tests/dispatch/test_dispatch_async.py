"""enqueue_http_task_async and enqueue_many_async with the real CloudTasksAsyncClient over
grpc.aio, against dispatch.emulator on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import grpc
import pytest
import structlog
from dispatch_support import BLOCK_GOOGLE, ROOT, http_receiver, make_settings, run_python
from google.cloud import tasks_v2

from dispatch import (
    BulkEnqueueError,
    DispatchConfigError,
    DispatchSettings,
    DuplicateTaskError,
    TaskCreationError,
    enqueue_http_task,
    enqueue_http_task_async,
    enqueue_many_async,
)
from dispatch import _tasks_client as tasks_client
from dispatch.emulator import Emulator
from dispatch.testing import TaskCapture, capture_tasks

QUEUE_PATH = "projects/taskguard-test/locations/us-central1/queues/default"
SERVICE_ACCOUNT = "tasks@taskguard-test.iam.gserviceaccount.com"
T = TypeVar("T")


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro_fn()

    return asyncio.run(main())


@pytest.fixture
def emu(cloud_tasks_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("TASKS_BASE_URL", "http://127.0.0.1:9")
    return cloud_tasks_emulator


@pytest.fixture
def paused(emu: Emulator) -> Iterator[Emulator]:
    """The queue paused, so stored tasks stay put and can be counted."""
    channel = grpc.insecure_channel(emu.address)
    client = tasks_v2.CloudTasksClient(
        transport=tasks_v2.services.cloud_tasks.transports.CloudTasksGrpcTransport(channel=channel)
    )
    client.pause_queue(name=QUEUE_PATH)
    yield emu
    channel.close()


def fast(**overrides: Any) -> DispatchSettings:
    values: dict[str, Any] = {"initial_backoff": 0.01, "max_backoff": 0.05}
    values.update(overrides)
    return DispatchSettings.from_env(**values)


def events(logs: list[dict[str, Any]]) -> list[str]:
    return [str(e["event"]) for e in logs if str(e["event"]).startswith("tasks.enqueue")]


# --- the same behaviour as the sync function ------------------------------------------------


def test_created_and_delivered_with_oidc_on_the_async_client(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKS_SERVICE_ACCOUNT_EMAIL", SERVICE_ACCOUNT)
    with http_receiver() as receiver:
        monkeypatch.setenv("TASKS_BASE_URL", receiver.base_url)

        async def main() -> tuple[str, Any]:
            name = await enqueue_http_task_async(
                "/tasks/transcribe", {"episode_id": 7}, headers={"X-Trace": "abc"}
            )
            return name, await tasks_client.get_async_client(DispatchSettings.from_env())

        name, client = run(main)
        (request,) = receiver.wait_for(1)
    assert isinstance(client, tasks_v2.CloudTasksAsyncClient)
    assert name.startswith(QUEUE_PATH + "/tasks/")
    assert request.path == "/tasks/transcribe"
    assert json.loads(request.body) == {"episode_id": 7}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Trace"] == "abc"
    assert request.headers["Authorization"].startswith("Bearer ")
    assert request.headers["X-CloudTasks-TaskName"] == name.rsplit("/", 1)[1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"path": "no-slash"},
        {"path": "/a", "task_id": "bad id"},
        {"path": "/a", "delay": -1},
        {"path": "/a", "headers": {"Authorization": "x"}},
        {"path": "/a", "payload": {1, 2}},
        {"path": "/a", "dispatch_deadline": 1},
    ],
)
def test_validation_is_the_sync_validation(kwargs: dict[str, Any]) -> None:
    settings = make_settings()
    with pytest.raises(DispatchConfigError) as sync_error:
        enqueue_http_task(settings=settings, **kwargs)
    with pytest.raises(DispatchConfigError) as async_error:
        run(lambda: enqueue_http_task_async(settings=settings, **kwargs))
    assert str(async_error.value) == str(sync_error.value)
    assert async_error.value.field == sync_error.value.field


def test_dry_run_returns_a_name_and_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(dry_run=True)
    with structlog.testing.capture_logs() as logs:
        name = run(lambda: enqueue_http_task_async("/tasks/x", {"a": 1}, settings=settings))
    assert name.startswith("dry-run-")
    assert events(logs) == []
    assert [e["event"] for e in logs] == ["tasks.dry_run"]


def test_capture_records_async_calls_and_refuses_a_reused_id() -> None:
    with capture_tasks() as tasks:
        run(lambda: enqueue_http_task_async("/tasks/x", {"a": 1}, task_id="one"))
        with pytest.raises(DuplicateTaskError):
            run(lambda: enqueue_http_task_async("/tasks/y", {"a": 2}, task_id="one"))
        run(lambda: enqueue_many_async([("/tasks/z", {"b": 1}), ("/tasks/z", {"b": 2})]))
    assert tasks.paths() == ["/tasks/x", "/tasks/z", "/tasks/z"]
    assert [t.payload for t in tasks] == [{"a": 1}, {"b": 1}, {"b": 2}]


def test_enqueued_tasks_fixture_records_async_calls(enqueued_tasks: TaskCapture) -> None:
    run(lambda: enqueue_http_task_async("/tasks/fixture", {"n": 1}))
    assert enqueued_tasks.paths() == ["/tasks/fixture"]


def test_unavailable_is_retried_with_backoff_and_logged(paused: Emulator) -> None:
    paused.fail_next(3)
    with structlog.testing.capture_logs() as logs:
        name = run(lambda: enqueue_http_task_async("/tasks/x", settings=fast()))
    assert [t.name for t in paused.tasks()] == [name]
    assert events(logs) == [
        "tasks.enqueue_http_task.start",
        *["tasks.enqueue_http_task.retry"] * 3,
        "tasks.enqueue_http_task.created",
    ]
    assert logs[-1]["attempt"] == 4


def test_a_lost_answer_is_recovered_without_a_second_task(paused: Emulator) -> None:
    paused.fail_next(1, grpc.StatusCode.UNAVAILABLE, after_commit=True)
    with structlog.testing.capture_logs() as logs:
        name = run(lambda: enqueue_http_task_async("/tasks/x", settings=fast()))
    assert [t.name for t in paused.tasks()] == [name]
    created = [e for e in logs if e["event"] == "tasks.enqueue_http_task.created"]
    assert created[0]["recovered"] is True


def test_reused_task_id_is_duplicate_task_error(paused: Emulator) -> None:
    run(lambda: enqueue_http_task_async("/tasks/x", task_id="same"))
    with pytest.raises(DuplicateTaskError) as info:
        run(lambda: enqueue_http_task_async("/tasks/x", task_id="same"))
    assert info.value.task_name == f"{QUEUE_PATH}/tasks/same"


def test_non_transient_error_is_not_retried(paused: Emulator) -> None:
    paused.fail_next(1, grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(TaskCreationError) as info:
        run(lambda: enqueue_http_task_async("/tasks/x", settings=fast()))
    assert info.value.code == "PERMISSION_DENIED"
    assert info.value.attempts == 1
    assert info.value.outcome_unknown is False
    assert paused.tasks() == []


def test_the_budget_bounds_the_whole_call(paused: Emulator) -> None:
    paused.fail_next(100_000)
    started = time.monotonic()
    try:
        with pytest.raises(TaskCreationError) as info:
            run(lambda: enqueue_http_task_async("/tasks/x", settings=fast(retry_budget=0.5)))
    finally:
        paused.clear_faults()
    took = time.monotonic() - started
    assert info.value.code == "UNAVAILABLE"
    assert info.value.attempts > 1
    assert info.value.outcome_unknown is True
    assert took < 0.5 + 1.0  # the budget, plus one minimal attempt and a loaded machine


# --- the event loop keeps running ---------------------------------------------------------


def test_a_ticker_keeps_ticking_while_100_enqueues_run(paused: Emulator) -> None:
    # Every CreateTask is held 0.4 s by the emulator: a blocking call would stall the loop
    # for that long each time; on the async client, the loop stays free.
    paused.delay_next(100, 0.4)
    interval = 0.01

    async def main() -> tuple[list[float], list[str], float]:
        ticks: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                ticks.append(time.monotonic())
                # The sleep is the behaviour under test: a ticker that must wake on time.
                await asyncio.sleep(interval)

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        names = await asyncio.gather(
            *(enqueue_http_task_async("/tasks/x", {"i": i}) for i in range(100))
        )
        took = time.monotonic() - started
        done.set()
        await ticking
        return ticks, list(names), took

    ticks, names, took = run(main)
    assert len(set(names)) == 100
    assert len(paused.tasks()) == 100
    assert took >= 0.4
    gaps = sorted(b - a for a, b in itertools.pairwise(ticks))
    # A call that blocked the loop would stall the ticker for a whole hold, 100 times (and
    # the run would take 100 x 0.4 s). On time: ticks all along the run, the typical gap
    # near the interval, and at most a stray pause (a loaded machine, the first call's
    # client setup) anywhere near one hold.
    assert took < 100 * 0.4 / 4, took
    assert len(ticks) >= took / interval / 4, (len(ticks), took)
    assert gaps[len(gaps) // 2] < 3 * interval, gaps[len(gaps) // 2]
    assert sum(gap >= 0.3 for gap in gaps) <= 2, gaps[-5:]


# --- cancellation ---------------------------------------------------------------------


def test_cancellation_mid_retry_raises_and_creates_nothing_twice(paused: Emulator) -> None:
    # The first attempt lands but its answer is lost; the retry waits a long backoff.
    paused.fail_next(1, grpc.StatusCode.UNAVAILABLE, after_commit=True)
    slow = DispatchSettings.from_env(initial_backoff=5.0, max_backoff=5.0, retry_budget=30)

    async def main() -> None:
        with structlog.testing.capture_logs() as logs:
            task = asyncio.create_task(enqueue_http_task_async("/tasks/x", settings=slow))
            deadline = time.monotonic() + 10
            while not any(e["event"] == "tasks.enqueue_http_task.retry" for e in logs):
                assert time.monotonic() < deadline, "no retry was logged"
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        (cancelled,) = [e for e in logs if e["event"] == "tasks.enqueue_http_task.cancelled"]
        assert cancelled["outcome_unknown"] is True
        assert cancelled["attempt"] == 1

    run(main)
    assert len(paused.tasks()) == 1


def test_cancellation_during_the_call_never_sends_another(paused: Emulator) -> None:
    # The call is held by the server and still takes effect after the client gave up.
    paused.delay_next(1, 0.5)

    async def main() -> None:
        with structlog.testing.capture_logs() as logs:
            task = asyncio.create_task(enqueue_http_task_async("/tasks/x", settings=fast()))
            deadline = time.monotonic() + 10
            # The server took the injected delay: the call is in flight, held there.
            while not paused.rpcs_in_flight("CreateTask"):
                assert time.monotonic() < deadline, "the call never reached the emulator"
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        (cancelled,) = [e for e in logs if e["event"] == "tasks.enqueue_http_task.cancelled"]
        assert cancelled["outcome_unknown"] is True

    run(main)
    deadline = time.monotonic() + 10
    while not paused.tasks():
        assert time.monotonic() < deadline, "the held call never landed"
        time.sleep(0.01)
    assert len(paused.tasks()) == 1


# --- enqueue_many_async ------------------------------------------------------------------


def test_enqueue_many_async_names_in_order(paused: Emulator) -> None:
    items = [("/tasks/x", {"i": i}) for i in range(250)]
    names = run(lambda: enqueue_many_async(items, max_concurrency=4))
    assert len(names) == 250
    bodies = {t.name: json.loads(t.http_request.body)["i"] for t in paused.tasks()}
    assert [bodies[name] for name in names] == list(range(250))


def test_enqueue_many_async_partial_failure_keeps_successes(paused: Emulator) -> None:
    run(lambda: enqueue_http_task_async("/tasks/x", task_id="taken"))
    items: list[Any] = [("/tasks/x", {"i": i}) for i in range(5)]
    items[2] = {"path": "/tasks/x", "task_id": "taken"}
    with pytest.raises(BulkEnqueueError) as info:
        run(lambda: enqueue_many_async(items))
    (index, error), *rest = info.value.failures
    assert (index, type(error), rest) == (2, DuplicateTaskError, [])
    assert sorted(info.value.succeeded) == [0, 1, 3, 4]
    assert len(paused.tasks()) == 5


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "4"])
def test_enqueue_many_async_refuses_a_bad_max_concurrency(bad: Any) -> None:
    with pytest.raises(DispatchConfigError) as info:
        run(lambda: enqueue_many_async([("/x", None)], max_concurrency=bad))
    assert info.value.field == "max_concurrency"


def test_enqueue_many_async_cancelled_raises_cancelled_error(paused: Emulator) -> None:
    # Each batch is held 2 s by the emulator; the call is cancelled once they are in flight.
    paused.delay_next(3, 2.0, method="BatchCreateTasks")

    async def main() -> float:
        items = [("/tasks/x", {"i": i}) for i in range(300)]
        task = asyncio.create_task(enqueue_many_async(items, max_concurrency=3))
        deadline = time.monotonic() + 10
        while paused.rpcs_in_flight("BatchCreateTasks") < 3:
            assert time.monotonic() < deadline, "the batches never reached the emulator"
            await asyncio.sleep(0.005)
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - cancelled_at

    took = run(main)
    assert took < 1.5  # not waiting for the held batches (2 s): they were cancelled
    # The held batches still land on the server: each task exactly once, none retried.
    deadline = time.monotonic() + 10
    while len(paused.tasks()) < 300:
        assert time.monotonic() < deadline, len(paused.tasks())
        time.sleep(0.01)
    names = [t.name for t in paused.tasks()]
    assert len(names) == len(set(names)) == 300


# --- the client: one per loop, closed with it, not inherited across fork ------------------


def test_one_async_client_per_event_loop_closed_at_loop_shutdown(emu: Emulator) -> None:
    settings = DispatchSettings.from_env()

    async def clients() -> tuple[Any, Any, Any]:
        first = await tasks_client.get_async_client(settings)
        again = await tasks_client.get_async_client(DispatchSettings.from_env(queue="other"))
        other = await tasks_client.get_async_client(
            DispatchSettings.from_env(emulator_host="127.0.0.1:9")
        )
        return first, again, other

    first, again, other = run(clients)
    second, _, _ = run(clients)
    assert again is first
    assert other is not first
    assert second is not first  # another loop, another client
    # asyncio.run() shut the loop down: its channels were closed with it, and forgotten
    # (nothing keeps a finished loop or its client alive).
    for client in (first, other, second):
        assert client.transport.grpc_channel._channel.closed()
    assert len(tasks_client._async_clients) == 0


def test_close_async_clients_closes_the_loops_clients_now(emu: Emulator) -> None:
    async def main() -> tuple[bool, bool, bool]:
        client = await tasks_client.get_async_client(DispatchSettings.from_env())
        before = client.transport.grpc_channel._channel.closed()
        await tasks_client.close_async_clients()
        after = client.transport.grpc_channel._channel.closed()
        fresh = await tasks_client.get_async_client(DispatchSettings.from_env())
        return before, after, fresh is client

    assert run(main) == (False, True, False)


CLEAN_SHUTDOWN_SCRIPT = """
import asyncio, gc, json, warnings
warnings.simplefilter("error")
# As in pyproject's filterwarnings: google-api-core warns at import on Python 3.10.
warnings.filterwarnings("ignore", "You are using a non-supported Python", FutureWarning)
import dispatch

async def main():
    return await dispatch.enqueue_http_task_async("/tasks/x", {"a": 1})

name = asyncio.run(main())
gc.collect()
print(json.dumps({"name": name}))
"""


def test_a_program_using_the_async_client_exits_without_warnings(emu: Emulator) -> None:
    env = {
        "TASKS_EMULATOR_HOST": emu.address,
        "TASKS_PROJECT": "taskguard-test",
        "TASKS_LOCATION": "us-central1",
        "TASKS_QUEUE": "default",
        "TASKS_BASE_URL": "http://127.0.0.1:9",
        "PYTHONDEVMODE": "1",
    }
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKS_", "GOOGLE_"))}
    full_env.update(env, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", CLEAN_SHUTDOWN_SCRIPT],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["name"].startswith(QUEUE_PATH)
    noise = [
        line
        for line in proc.stderr.splitlines()
        # "Executing <Task ...> took 0.2 seconds": dev mode's slow-callback report, about
        # this machine's load, not about anything left open.
        if not line.startswith("Executing <")
        and any(
            word in line
            for word in ("Warning", "Traceback", "never awaited", "pending", "nclosed", "rror")
        )
    ]
    assert noise == []


FORK_SCRIPT = """
import asyncio, json, os, warnings
import dispatch
from dispatch import _tasks_client

settings = dispatch.DispatchSettings.from_env()
first = "async" if os.environ["PARENT_USES"] == "async" else "sync"
if first == "async":
    async def parent():
        return await dispatch.enqueue_http_task_async("/tasks/parent", {"who": "parent"})
    parent_name = asyncio.run(parent())
else:
    parent_name = dispatch.enqueue_http_task("/tasks/parent", {"who": "parent"})
read_end, write_end = os.pipe()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # fork() with gRPC threads running
    pid = os.fork()
if pid == 0:
    status = 1
    try:
        async def child():
            return await dispatch.enqueue_http_task_async("/tasks/child", {"who": "child"})
        try:
            report = {"name": asyncio.run(child())}
        except dispatch.TaskCreationError as exc:
            report = {"error": str(exc)}
            try:
                dispatch.enqueue_http_task("/tasks/child-sync", {"who": "child"})
            except dispatch.TaskCreationError as sync_exc:
                report["sync_error"] = str(sync_exc)
        os.write(write_end, json.dumps(report).encode())
        status = 0
    finally:
        os._exit(status)
os.close(write_end)
_, wait_status = os.waitpid(pid, 0)
child = json.loads(os.read(read_end, 65536) or b"{}")
print(json.dumps({"exit": os.waitstatus_to_exitcode(wait_status), "child": child,
                  "parent": parent_name}))
"""


def _fork_env(emu: Emulator, parent_uses: str) -> dict[str, str]:
    return {
        "TASKS_EMULATOR_HOST": emu.address,
        "TASKS_PROJECT": "taskguard-test",
        "TASKS_LOCATION": "us-central1",
        "TASKS_QUEUE": "default",
        "TASKS_BASE_URL": "http://127.0.0.1:9",
        "PARENT_USES": parent_uses,
    }


@pytest.mark.usefixtures("paused")
def test_a_forked_child_builds_its_own_async_client(emu: Emulator) -> None:
    result = run_python(FORK_SCRIPT, env=_fork_env(emu, "sync"))
    assert result["exit"] == 0
    names = {t.name for t in emu.tasks()}
    assert names == {result["parent"], result["child"]["name"]}


@pytest.mark.usefixtures("paused")
def test_a_child_of_a_process_that_used_grpc_aio_is_told_instead_of_hanging(
    emu: Emulator,
) -> None:
    # gRPC's asyncio stack does not survive fork(): calls in such a child hang forever.
    result = run_python(FORK_SCRIPT, env=_fork_env(emu, "async"), timeout=60)
    assert result["exit"] == 0
    assert "does not survive fork()" in result["child"]["error"]
    assert "does not survive fork()" in result["child"]["sync_error"]
    assert [t.name for t in emu.tasks()] == [result["parent"]]


# --- without google-cloud-tasks ------------------------------------------------------------

WITHOUT_GOOGLE = """
import asyncio, json, sys
import structlog
import dispatch
from dispatch.testing import capture_tasks

async def main():
    out = {}
    out["dry_run"] = await dispatch.enqueue_http_task_async(
        "/tasks/x", {"a": 1}, settings=dispatch.DispatchSettings(dry_run=True))
    with capture_tasks() as tasks:
        await dispatch.enqueue_many_async([("/tasks/y", None), ("/tasks/z", None)])
    out["captured"] = tasks.paths()
    out["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in ("google", "grpc"))
    with structlog.testing.capture_logs() as logs:
        for call in (
            lambda: dispatch.enqueue_http_task_async("/tasks/x", {"a": 1}),
            lambda: dispatch.enqueue_many_async([("/tasks/x", None), ("/tasks/x", None)]),
        ):
            try:
                await call()
            except ImportError as exc:
                out.setdefault("errors", []).append(type(exc).__name__)
    out["events"] = [entry["event"] for entry in logs]
    return out

print(json.dumps(asyncio.run(main())))
"""


def test_async_without_the_client_dry_run_and_capture_work_and_sending_is_clear() -> None:
    env = {
        "TASKS_PROJECT": "p",
        "TASKS_LOCATION": "l",
        "TASKS_QUEUE": "q",
        "TASKS_BASE_URL": "https://worker.example.com",
    }
    result = run_python(BLOCK_GOOGLE + WITHOUT_GOOGLE, env=env)
    assert result["dry_run"].startswith("dry-run-")
    assert result["captured"] == ["/tasks/y", "/tasks/z"]
    assert result["loaded"] == []
    assert result["errors"] == ["CloudTasksUnavailableError"] * 2
    assert result["events"] == ["tasks.enqueue_http_task.cloud_tasks_unavailable"] * 2


# --- the async function is the sync one, awaited --------------------------------------------


def test_the_signatures_are_the_same() -> None:
    import inspect

    sync = inspect.signature(enqueue_http_task)
    twin = inspect.signature(enqueue_http_task_async)
    assert list(twin.parameters.values()) == list(sync.parameters.values())
    assert twin.return_annotation == sync.return_annotation
    assert inspect.iscoroutinefunction(enqueue_http_task_async)


SCENARIOS: dict[str, Callable[[Emulator], None]] = {
    "clean": lambda emu: None,
    "transient": lambda emu: emu.fail_next(2),
    "lost answer": lambda emu: emu.fail_next(1, after_commit=True),
    "refused": lambda emu: emu.fail_next(1, grpc.StatusCode.INVALID_ARGUMENT),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_sync_and_async_log_the_same_events_with_the_same_fields(
    paused: Emulator, scenario: str
) -> None:
    # The sync path is the oracle: for the same faults, the same events, fields and outcome.
    def outcome(call: Callable[[], Any]) -> tuple[Any, list[tuple[str, list[str]]]]:
        SCENARIOS[scenario](paused)
        with structlog.testing.capture_logs() as logs:
            try:
                result: Any = call()
                result = "created" if result.startswith(QUEUE_PATH) else result
            except TaskCreationError as exc:
                result = (type(exc).__name__, exc.code, exc.attempts, exc.outcome_unknown)
        return result, [(e["event"], sorted(e)) for e in logs]

    settings = fast()
    sync = outcome(lambda: enqueue_http_task("/tasks/x?k=v", {"a": 1}, settings=settings))
    twin = outcome(
        lambda: run(lambda: enqueue_http_task_async("/tasks/x?k=v", {"a": 1}, settings=settings))
    )
    assert twin == sync


def test_no_payload_header_or_query_value_is_logged_by_async_or_batch_paths(
    paused: Emulator,
) -> None:
    secrets = {"payload": "payload-value-123", "header": "header-value-456", "q": "s3cr3t-q"}
    path = f"/tasks/x?token={secrets['q']}"
    headers = {"X-Secret": secrets["header"]}
    payload = {"v": secrets["payload"]}
    slow = fast(initial_backoff=5.0, max_backoff=5.0, retry_budget=30)

    async def main() -> None:
        paused.fail_next(2)
        await enqueue_http_task_async(path, payload, headers=headers, settings=fast())
        await enqueue_many_async([{"path": path, "payload": payload, "headers": headers}] * 3)
        paused.fail_next(1, grpc.StatusCode.UNAVAILABLE, method="BatchCreateTasks")
        await enqueue_many_async([{"path": path, "payload": payload, "headers": headers}] * 2)
        paused.fail_next(1, after_commit=True)
        task = asyncio.create_task(
            enqueue_http_task_async(path, payload, headers=headers, settings=slow)
        )
        deadline = time.monotonic() + 10
        received = paused.rpcs_received("CreateTask")
        while paused.rpcs_received("CreateTask") == received:
            assert time.monotonic() < deadline, "the call never reached the emulator"
            await asyncio.sleep(0.005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with structlog.testing.capture_logs() as logs:
        run(main)
    events = {e["event"] for e in logs}
    assert {
        "tasks.enqueue_http_task.retry",
        "tasks.enqueue_http_task.created",
        "tasks.enqueue_many.batch_created",
        "tasks.enqueue_many.batch_retry",
        "tasks.enqueue_http_task.cancelled",
    } <= events
    text = json.dumps(logs, default=str)
    for secret in secrets.values():
        assert secret not in text


def test_loops_in_several_threads_each_get_their_own_client(paused: Emulator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    settings = DispatchSettings.from_env()

    def in_a_thread(n: int) -> tuple[list[str], Any]:
        async def main() -> tuple[list[str], Any]:
            names = [await enqueue_http_task_async("/tasks/x", {"n": n}) for _ in range(20)]
            return names, await tasks_client.get_async_client(settings)

        return asyncio.run(main())

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(in_a_thread, range(4)))
    names = [name for batch, _ in results for name in batch]
    assert len(set(names)) == 80
    assert {t.name for t in paused.tasks()} == set(names)
    clients = [client for _, client in results]  # held: their ids cannot be reused
    assert len({id(client) for client in clients}) == 4
    assert len(tasks_client._async_clients) == 0
