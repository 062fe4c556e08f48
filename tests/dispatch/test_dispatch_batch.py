"""enqueue_many / enqueue_many_async on BatchCreateTasks, against dispatch.emulator (the real
client, a real long-running operation), and the CreateTask fallback where the service
answers UNIMPLEMENTED."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
import structlog
from google.cloud import tasks_v2
from google.longrunning import operations_pb2
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2

from dispatch import (
    BulkEnqueueError,
    DispatchConfigError,
    DispatchSettings,
    DuplicateTaskError,
    TaskCreationError,
    enqueue_http_task,
    enqueue_many,
    enqueue_many_async,
)
from dispatch import _tasks_client as tasks_client
from dispatch._validate import TaskSpec, build_spec
from dispatch.emulator import Emulator

PROJECT, LOCATION = "taskguard-test", "us-central1"
QUEUE_PATH = f"projects/{PROJECT}/locations/{LOCATION}/queues/default"
OTHER_PATH = f"projects/{PROJECT}/locations/{LOCATION}/queues/other"

Many = Callable[..., list[str]]


def many_sync(items: Any, **kwargs: Any) -> list[str]:
    return enqueue_many(items, **kwargs)


def many_async(items: Any, **kwargs: Any) -> list[str]:
    async def main() -> list[str]:
        return await enqueue_many_async(items, **kwargs)

    return asyncio.run(main())


both = pytest.mark.parametrize("many", [many_sync, many_async], ids=["sync", "async"])


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(port=0, queues=[QUEUE_PATH, OTHER_PATH]) as emulator:
        monkeypatch.setenv("TASKS_EMULATOR_HOST", emulator.address)
        monkeypatch.setenv("TASKS_PROJECT", PROJECT)
        monkeypatch.setenv("TASKS_LOCATION", LOCATION)
        monkeypatch.setenv("TASKS_QUEUE", "default")
        monkeypatch.setenv("TASKS_BASE_URL", "http://127.0.0.1:9")
        monkeypatch.delenv("TASKS_DRY_RUN", raising=False)
        channel = grpc.insecure_channel(emulator.address)
        client = tasks_v2.CloudTasksClient(
            transport=tasks_v2.services.cloud_tasks.transports.CloudTasksGrpcTransport(
                channel=channel
            )
        )
        # Paused: stored tasks stay put and can be counted.
        client.pause_queue(name=QUEUE_PATH)
        client.pause_queue(name=OTHER_PATH)
        try:
            yield emulator
        finally:
            channel.close()


def of(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == event]


def bodies(emu: Emulator) -> dict[str, Any]:
    return {t.name: json.loads(t.http_request.body) for t in emu.tasks()}


# --- batches ---------------------------------------------------------------------------


@both
def test_items_are_grouped_by_queue_in_batches_of_at_most_100(emu: Emulator, many: Many) -> None:
    items: list[Any] = [("/tasks/x", {"i": i}) for i in range(250)]
    items += [{"path": "/tasks/y", "payload": {"i": 250 + i}, "queue": "other"} for i in range(30)]
    items.insert(5, {"path": "/tasks/y", "payload": {"i": "odd"}, "queue": "other"})
    with structlog.testing.capture_logs() as logs:
        names = many(items)
    assert len(names) == len(items)
    stored = bodies(emu)
    assert [stored[name] for name in names] == [
        item[1] if isinstance(item, tuple) else item["payload"] for item in items
    ]
    assert all(name.startswith(OTHER_PATH) for name in names[251:])
    batches = sorted((e["queue"], e["count"]) for e in of(logs, "tasks.enqueue_many.batch_created"))
    assert batches == [("default", 50), ("default", 100), ("default", 100), ("other", 31)]
    # No task went through CreateTask: nothing but batches.
    assert of(logs, "tasks.enqueue_http_task.created") == []
    assert of(logs, "tasks.enqueue_many.batch_unimplemented") == []


@both
def test_partial_failures_are_mapped_index_by_index(emu: Emulator, many: Many) -> None:
    enqueue_http_task("/tasks/x", {"first": True}, task_id="taken-1")
    enqueue_http_task("/tasks/x", {"first": True}, task_id="taken-2")
    items: list[Any] = [("/tasks/x", {"i": i}) for i in range(180)]
    items[3] = {"path": "/tasks/x", "payload": {"i": 3}, "task_id": "taken-1"}
    items[150] = {"path": "/tasks/x", "payload": {"i": 150}, "task_id": "taken-2"}
    with pytest.raises(BulkEnqueueError) as info:
        many(items)
    error = info.value
    assert [(index, type(exc)) for index, exc in error.failures] == [
        (3, DuplicateTaskError),
        (150, DuplicateTaskError),
    ]
    assert error.failures[0][1].task_name == f"{QUEUE_PATH}/tasks/taken-1"  # type: ignore[attr-defined]
    assert sorted(error.succeeded) == [i for i in range(180) if i not in (3, 150)]
    assert "2 of 180 tasks failed (178 created)" in str(error)
    stored = bodies(emu)
    assert len(stored) == 2 + 178
    for index, name in error.succeeded.items():
        assert stored[name] == {"i": index}
    # The tasks that were there are untouched.
    assert stored[f"{QUEUE_PATH}/tasks/taken-1"] == {"first": True}


@both
def test_a_retried_batch_never_creates_a_task_twice(emu: Emulator, many: Many) -> None:
    # The batch lands, its answer is lost: the retry carries the same request_id and the
    # same task names, so the service answers with the first operation.
    emu.fail_next(1, grpc.StatusCode.UNAVAILABLE, method="BatchCreateTasks", after_commit=True)
    fast = DispatchSettings.from_env(initial_backoff=0.01, max_backoff=0.05)
    with structlog.testing.capture_logs() as logs:
        names = many([("/tasks/x", {"i": i}) for i in range(150)], settings=fast)
    assert len(set(names)) == 150
    assert set(bodies(emu)) == set(names)
    (retry,) = of(logs, "tasks.enqueue_many.batch_retry")
    assert retry["code"] == "UNAVAILABLE"
    created = of(logs, "tasks.enqueue_many.batch_created")
    assert sorted(e["created"] for e in created) == [50, 100]


@both
def test_a_batch_that_keeps_failing_reports_every_item(emu: Emulator, many: Many) -> None:
    emu.fail_next(1, grpc.StatusCode.PERMISSION_DENIED, method="BatchCreateTasks")
    items = [("/tasks/x", {"i": i}) for i in range(5)]
    with structlog.testing.capture_logs() as logs, pytest.raises(BulkEnqueueError) as info:
        many(items)
    assert [index for index, _ in info.value.failures] == [0, 1, 2, 3, 4]
    for _, exc in info.value.failures:
        assert isinstance(exc, TaskCreationError)
        assert exc.code == "PERMISSION_DENIED"
        assert exc.outcome_unknown is False
        assert str(exc).startswith("Cloud Tasks BatchCreateTasks failed: PERMISSION_DENIED: ")
        assert str(exc).count("Cloud Tasks") == 1
    assert info.value.succeeded == {}
    assert emu.tasks() == []
    assert len(of(logs, "tasks.enqueue_many.batch_failed")) == 1


# --- the fallback -----------------------------------------------------------------------


@both
def test_unimplemented_falls_back_to_create_task_and_logs_once(emu: Emulator, many: Many) -> None:
    # A service without batches answers UNIMPLEMENTED to both batches of the first call.
    emu.fail_next(2, grpc.StatusCode.UNIMPLEMENTED, method="BatchCreateTasks")
    with structlog.testing.capture_logs() as logs:
        first = many([("/tasks/x", {"i": i}) for i in range(120)])
        emu.clear_faults()  # the second call would now be served a batch, were it to ask
        second = many([("/tasks/x", {"i": i}) for i in range(120, 150)])
    assert set(bodies(emu)) == set(first) | set(second)
    assert len(first) + len(second) == 150
    (fallback,) = of(logs, "tasks.enqueue_many.batch_unimplemented")
    assert fallback["fallback"] == "CreateTask"
    assert len(of(logs, "tasks.enqueue_http_task.created")) == 150
    # Known unimplemented: the second call did not even try a batch.
    assert of(logs, "tasks.enqueue_many.batch_created") == []


@pytest.mark.parametrize(("count", "sizes"), [(1, [1]), (100, [100]), (101, [1, 100])])
def test_batch_boundaries(emu: Emulator, count: int, sizes: list[int]) -> None:
    with structlog.testing.capture_logs() as logs:
        names = enqueue_many([("/tasks/x", {"i": i}) for i in range(count)])
    assert set(bodies(emu)) == set(names)
    assert len(names) == count
    assert sorted(e["count"] for e in of(logs, "tasks.enqueue_many.batch_created")) == sizes
    assert of(logs, "tasks.enqueue_http_task.created") == []


# --- mapping an operation's outcome (pure: real protobuf messages) -------------------------


def _specs(n: int) -> list[TaskSpec]:
    settings = DispatchSettings(
        project="p", location="l", queue="q", base_url="https://worker.example.com"
    )
    return [
        build_spec(
            path="/t",
            payload={"i": i},
            task_id=f"t{i}",
            schedule_time=None,
            delay=None,
            dispatch_deadline=None,
            headers=None,
            queue=None,
            settings=settings,
            require_config=True,
        )
        for i in range(n)
    ]


def _operation(
    specs: list[TaskSpec],
    *,
    failed: dict[int, int] | None = None,
    created: list[int] | None = None,
    error: int | None = None,
) -> Any:
    metadata = tasks_v2.BatchCreateTasksMetadata.pb()()
    for index, code in (failed or {}).items():
        metadata.failed_requests[index].CopyFrom(status_pb2.Status(code=code, message="no"))
    operation = operations_pb2.Operation(name="projects/p/locations/l/operations/1", done=True)
    packed = any_pb2.Any()
    packed.Pack(metadata)
    operation.metadata.CopyFrom(packed)
    if error is not None:
        operation.error.CopyFrom(status_pb2.Status(code=error, message="internal"))
    else:
        response = tasks_v2.BatchCreateTasksResponse.pb()()
        for index in created if created is not None else range(len(specs)):
            response.tasks.add(name=specs[index].task_name)
        packed = any_pb2.Any()
        packed.Pack(response)
        operation.response.CopyFrom(packed)
    return operation


def test_batch_results_maps_failed_requests_by_index() -> None:
    specs = _specs(4)
    operation = _operation(
        specs,
        failed={1: code_pb2.ALREADY_EXISTS, 3: code_pb2.INVALID_ARGUMENT},
        created=[0, 2],
    )
    results = tasks_client.batch_results(operation, specs, attempt=1)
    assert results[0] == specs[0].task_name
    assert isinstance(results[1], DuplicateTaskError)
    assert results[2] == specs[2].task_name
    assert isinstance(results[3], TaskCreationError)
    assert results[3].code == "INVALID_ARGUMENT"
    assert results[3].outcome_unknown is False


def test_batch_results_never_claims_a_task_it_was_not_told_about() -> None:
    specs = _specs(3)
    results = tasks_client.batch_results(_operation(specs, created=[0, 2]), specs, attempt=1)
    assert results[0] == specs[0].task_name
    assert isinstance(results[1], TaskCreationError)
    assert results[1].outcome_unknown is True
    assert results[2] == specs[2].task_name


def test_a_failed_operation_leaves_every_unreported_task_unknown() -> None:
    specs = _specs(3)
    operation = _operation(specs, failed={0: code_pb2.ALREADY_EXISTS}, error=code_pb2.INTERNAL)
    results = tasks_client.batch_results(operation, specs, attempt=2)
    assert isinstance(results[0], DuplicateTaskError)
    for result in results[1:]:
        assert isinstance(result, TaskCreationError)
        assert result.outcome_unknown is True
        assert "INTERNAL" in result.message


@both
def test_batched_tasks_are_the_tasks_create_task_would_make(
    emu: Emulator, many: Many, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKS_SERVICE_ACCOUNT_EMAIL", "tasks@p.iam.gserviceaccount.com")
    items = [
        {
            "path": "/tasks/x?lang=en",
            "payload": {"i": i},
            "headers": {"X-Kind": "k"},
            "delay": 60,
            "dispatch_deadline": 30,
            "task_id": f"fixed-{i}",
        }
        for i in range(3)
    ]
    with structlog.testing.capture_logs() as logs:
        names = many(items)
    assert names == [f"{QUEUE_PATH}/tasks/fixed-{i}" for i in range(3)]
    assert len(of(logs, "tasks.enqueue_many.batch_created")) == 1
    stored = {t.name: t for t in emu.tasks()}
    for i, name in enumerate(names):
        task = stored[name]
        assert task.http_request.url == "http://127.0.0.1:9/tasks/x?lang=en"
        assert task.http_request.http_method == tasks_v2.HttpMethod.POST
        assert json.loads(task.http_request.body) == {"i": i}
        assert task.http_request.headers["Content-Type"] == "application/json"
        assert task.http_request.headers["X-Kind"] == "k"
        assert task.http_request.oidc_token.service_account_email == (
            "tasks@p.iam.gserviceaccount.com"
        )
        assert task.dispatch_deadline.total_seconds() == 30
        assert task.schedule_time.timestamp() > time.time() + 30


@both
def test_a_client_that_cannot_be_built_fails_every_item_clearly(
    many: Many, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No emulator: the real client looks for Google credentials, and finds none.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials.json")
    settings = DispatchSettings(
        project="p", location="l", queue="q", base_url="https://worker.example.com"
    )
    with structlog.testing.capture_logs() as logs, pytest.raises(BulkEnqueueError) as info:
        many([("/tasks/x", {"i": i}) for i in range(3)], settings=settings)
    assert [index for index, _ in info.value.failures] == [0, 1, 2]
    for _, exc in info.value.failures:
        assert isinstance(exc, TaskCreationError)
        assert "could not build the Cloud Tasks" in str(exc)
        assert exc.outcome_unknown is False
    assert len(of(logs, "tasks.enqueue_http_task.cloud_tasks_client_failed")) == 1


# --- an operation that is not done at once: polled with GetOperation ------------------------


@contextlib.contextmanager
def slow_operations(
    polls_until_done: int | None, retry_budget: float = 1.0
) -> Iterator[tuple[DispatchSettings, Any]]:
    """A gRPC server on loopback whose BatchCreateTasks answers a running operation, done
    after ``polls_until_done`` GetOperation calls (never, with ``None``).

    The real service works this way; the emulator answers done operations. It records the
    metadata of each call, to compare the batch's routing header with the generated client's.
    """
    state: dict[str, Any] = {"polls": 0, "request": None, "metadata": []}

    def batch(request: Any, context: grpc.ServicerContext) -> Any:
        state["request"] = request
        state["metadata"].append(dict(context.invocation_metadata()))  # type: ignore[arg-type]
        return operations_pb2.Operation(name="projects/p/locations/l/operations/op1", done=False)

    def get(request: Any, context: grpc.ServicerContext) -> Any:
        state["polls"] += 1
        operation = operations_pb2.Operation(name=request.name)
        if polls_until_done is None or state["polls"] < polls_until_done:
            return operation
        operation.done = True
        response = tasks_v2.BatchCreateTasksResponse.pb()()
        for one in state["request"].requests:
            response.tasks.add(name=one.task.name)
        operation.response.Pack(response)
        return operation

    def unary(fn: Any, request_type: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            fn,
            request_deserializer=request_type.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        server = grpc.server(pool)
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "google.cloud.tasks.v2.CloudTasks",
                    {"BatchCreateTasks": unary(batch, tasks_v2.BatchCreateTasksRequest.pb())},
                ),
                grpc.method_handlers_generic_handler(
                    "google.longrunning.Operations",
                    {"GetOperation": unary(get, operations_pb2.GetOperationRequest)},
                ),
            )
        )
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            yield (
                DispatchSettings(
                    project="p",
                    location="l",
                    queue="q",
                    base_url="http://127.0.0.1:9",
                    emulator_host=f"127.0.0.1:{port}",
                    retry_budget=retry_budget,
                ),
                state,
            )
        finally:
            server.stop(None).wait()


@both
def test_a_running_operation_is_polled_until_done(many: Many) -> None:
    with slow_operations(3) as (settings, state):
        names = many([("/tasks/x", {"i": i}) for i in range(5)], settings=settings)
    assert state["polls"] == 3
    assert names == [one.task.name for one in state["request"].requests]
    assert state["request"].request_id  # set, so a retry is recognised
    assert state["metadata"][0]["x-goog-request-params"] == "parent=projects/p/locations/l/queues/q"


@both
def test_an_operation_never_done_within_the_budget_is_outcome_unknown(many: Many) -> None:
    with (
        # A budget that leaves room for polls even when a loaded machine makes the first call
        # (channel set-up included) slow: polls go out at 0.02 s, doubling, up to 1 s apart.
        slow_operations(None, retry_budget=2.5) as (settings, state),
        structlog.testing.capture_logs() as logs,
        pytest.raises(BulkEnqueueError) as info,
    ):
        many([("/tasks/x", {"i": i}) for i in range(3)], settings=settings)
    assert state["polls"] >= 2
    for _, exc in info.value.failures:
        assert isinstance(exc, TaskCreationError)
        assert exc.code == "DEADLINE_EXCEEDED"
        assert exc.outcome_unknown is True
        assert "may exist: re-send with task_id=" in str(exc)
    (failed,) = of(logs, "tasks.enqueue_many.batch_failed")
    assert failed["outcome_unknown"] is True


def test_large_tasks_go_in_smaller_batches(emu: Emulator) -> None:
    # 20 tasks of about 900 kB: 100 of them in one request would be 90 MB.
    blob = "x" * 900_000
    with structlog.testing.capture_logs() as logs:
        names = enqueue_many([("/tasks/x", {"i": i, "blob": blob}) for i in range(20)])
    assert set(bodies(emu)) == set(names)
    sizes = [e["count"] for e in of(logs, "tasks.enqueue_many.batch_created")]
    assert sum(sizes) == 20
    assert max(sizes) <= 9  # 9 x (900 kB + overhead) stays under 8 MiB
    assert len(sizes) == 3


# --- volume: batches under every kind of fault ------------------------------------------------


@both
def test_2000_tasks_in_batches_under_faults_each_created_exactly_once(
    emu: Emulator, many: Many
) -> None:
    # Transient failures, lost answers (the batch landed), and calls held past the client's
    # deadline that still land afterwards: every retry carries the same request_id.
    for fault in (
        lambda: emu.fail_next(3, grpc.StatusCode.UNAVAILABLE, method="BatchCreateTasks"),
        lambda: emu.fail_next(
            3, grpc.StatusCode.UNAVAILABLE, method="BatchCreateTasks", after_commit=True
        ),
        lambda: emu.delay_next(2, 0.6, method="BatchCreateTasks"),
        lambda: emu.fail_next(2, grpc.StatusCode.DEADLINE_EXCEEDED, method="BatchCreateTasks"),
    ):
        fault()
    settings = DispatchSettings.from_env(
        attempt_timeout=0.3, initial_backoff=0.01, max_backoff=0.05
    )
    items: list[Any] = []
    for i in range(2000):
        item: dict[str, Any] = {"path": "/tasks/load", "payload": {"seq": i}}
        if i % 3 == 0:
            item["queue"] = "other"
        if i % 2 == 1:
            item["task_id"] = f"{i:04x}-named-{i}"
        items.append(item)
    with structlog.testing.capture_logs() as logs:
        names = many(items, settings=settings, **({"max_workers": 4} if many is many_sync else {}))
    # A held call outlives its client: once nothing is being served, it has landed.
    emu.wait_rpcs_idle(timeout=10)
    emu.clear_faults()
    assert len(set(names)) == 2000
    stored = bodies(emu)
    assert len(stored) == 2000
    assert [stored[name]["seq"] for name in names] == list(range(2000))
    assert names[1].endswith("/tasks/0001-named-1")
    assert len(of(logs, "tasks.enqueue_many.batch_retry")) >= 5


# --- configuration: checked once, before any item ------------------------------------------


@both
@pytest.mark.parametrize(
    ("env", "field", "missing"),
    [
        ({"TASKS_LOCATION": None, "TASKS_BASE_URL": None}, "TASKS_LOCATION", 2),
        ({"TASKS_DRY_RUN": "maybe", "TASKS_QUEUE": None}, "TASKS_DRY_RUN", 1),
        ({"TASKS_BASE_URL": "ftp://worker.example.com", "TASKS_QUEUE": None}, "TASKS_BASE_URL", 1),
    ],
    ids=["missing", "bad-dry-run", "ftp-base-url"],
)
def test_a_configuration_problem_fails_enqueue_many_once_before_any_item_or_rpc(
    emu: Emulator,
    many: Many,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str | None],
    field: str,
    missing: int,
) -> None:
    for var, value in env.items():
        if value is None:
            monkeypatch.delenv(var)
        else:
            monkeypatch.setenv(var, value)
    before = emu.rpcs_received()
    items = [("/tasks/x", {"i": i}) for i in range(250)]
    with structlog.testing.capture_logs() as logs, pytest.raises(DispatchConfigError) as info:
        many(items)
    error = info.value
    assert isinstance(error, ValueError)
    assert not isinstance(error, BulkEnqueueError)
    assert error.field == field
    assert len(error.missing) == missing
    assert [(e["event"], e["field"]) for e in logs] == [
        ("tasks.enqueue_http_task.config_missing", field)
    ]
    assert emu.rpcs_received() == before  # not one RPC
    assert emu.tasks() == []


@both
def test_items_that_name_their_queue_need_no_tasks_queue(
    emu: Emulator, many: Many, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASKS_QUEUE")
    names = many([{"path": "/tasks/x", "payload": {"i": i}, "queue": "other"} for i in range(3)])
    assert [name.split("/tasks/")[0] for name in names] == [OTHER_PATH] * 3


@both
def test_items_with_their_own_settings_are_not_held_by_the_calls(
    emu: Emulator, many: Many, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = DispatchSettings.from_env()
    monkeypatch.delenv("TASKS_BASE_URL")
    names = many([{"path": "/tasks/x", "payload": {"i": i}, "settings": own} for i in range(3)])
    assert len(set(names)) == 3
    assert len(emu.tasks()) == 3


@both
def test_invalid_items_still_fail_by_index_when_the_configuration_is_sound(
    emu: Emulator, many: Many
) -> None:
    before = emu.rpcs_received()
    items: list[Any] = [("/tasks/x", {"i": i}) for i in range(4)]
    items[1] = ("no-slash", {})
    items[3] = ("/tasks/x", {"blob": "x" * (1024 * 1024)})
    with structlog.testing.capture_logs() as logs, pytest.raises(BulkEnqueueError) as info:
        many(items)
    assert [(i, type(e), e.field) for i, e in info.value.failures] == [
        (1, DispatchConfigError, "path"),
        (3, DispatchConfigError, "payload"),
    ]
    assert info.value.names == (None,) * 4
    assert len(logs) == 2
    assert emu.rpcs_received() == before
