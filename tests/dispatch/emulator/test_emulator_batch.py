"""BatchCreateTasks and google.longrunning.Operations through the real client over gRPC."""

from __future__ import annotations

import grpc
import pytest
from emulator_support import PARENT, QUEUE, http_task
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2
from test_emulator_tasks import INVALID_TASKS, URL

SUCCEEDED = tasks_v2.BatchCreateTasksMetadata.State.SUCCEEDED
PARTIALLY_SUCCEEDED = tasks_v2.BatchCreateTasksMetadata.State.PARTIALLY_SUCCEEDED


@pytest.fixture
def paused(client, queue):
    client.pause_queue(name=queue)
    return queue


def _requests(queue, *tasks, **fields):
    return [tasks_v2.CreateTaskRequest(parent=queue, task=task, **fields) for task in tasks]


def _batch(client, queue, tasks, request_id="", **kwargs):
    return client.batch_create_tasks(
        request={"parent": queue, "requests": _requests(queue, *tasks), "request_id": request_id},
        **kwargs,
    )


def test_a_batch_creates_every_task_and_the_worker_gets_each(client, queue, worker):
    tasks = [http_task(worker.url + f"/b{i}", f"body-{i}".encode()) for i in range(5)]
    operation = _batch(client, queue, tasks)
    assert operation.done()
    result = operation.result(timeout=10)
    assert [t.http_request.url for t in result.tasks] == [worker.url + f"/b{i}" for i in range(5)]
    assert all(t.name.startswith(queue + "/tasks/") for t in result.tasks)
    assert all(t.view == tasks_v2.Task.View.BASIC for t in result.tasks)
    metadata = operation.metadata
    assert metadata.state == SUCCEEDED
    assert dict(metadata.failed_requests) == {}
    assert metadata.start_time <= metadata.end_time
    assert operation.operation.name.startswith(f"{PARENT}/operations/")
    got = worker.wait_for(5)
    assert sorted(r.body for r in got) == sorted(f"body-{i}".encode() for i in range(5))


def test_each_request_keeps_its_own_response_view(client, paused):
    requests = [
        tasks_v2.CreateTaskRequest(parent=paused, task=http_task(URL, b"secret-a")),
        tasks_v2.CreateTaskRequest(
            parent=paused, task=http_task(URL, b"secret-b"), response_view="FULL"
        ),
    ]
    result = client.batch_create_tasks(parent=paused, requests=requests).result()
    assert [t.http_request.body for t in result.tasks] == [b"", b"secret-b"]


def test_a_batch_is_not_atomic_failures_are_reported_by_index(client, paused):
    taken = f"{paused}/tasks/already-there"
    client.create_task(parent=paused, task={"name": taken, **http_task(URL)})
    tasks = [
        http_task(URL),  # 0: created
        http_task("ftp://127.0.0.1/x"),  # 1: INVALID_ARGUMENT
        {"name": taken, **http_task(URL)},  # 2: ALREADY_EXISTS
        {"name": f"{paused}/tasks/new-one", **http_task(URL)},  # 3: created
        {"name": f"{paused}/tasks/new-one", **http_task(URL)},  # 4: the same name again
    ]
    operation = _batch(client, paused, tasks)
    result = operation.result()
    assert [t.name.rsplit("/", 1)[1] for t in result.tasks][1:] == ["new-one"]
    failed = operation.metadata.failed_requests
    assert sorted(failed) == [1, 2, 4]
    assert failed[1].code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "http://" in failed[1].message
    assert failed[2].code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert failed[4].code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert operation.metadata.state == PARTIALLY_SUCCEEDED
    stored = {t.name for t in client.list_tasks(parent=paused)}
    assert stored == {taken, *(t.name for t in result.tasks)}


def test_a_batch_where_nothing_succeeded_is_an_aborted_operation(client, paused):
    operation = _batch(client, paused, [http_task(""), http_task("ftp://x/y")])
    assert operation.done()
    with pytest.raises(gexc.Aborted, match="None of the requests succeeded"):
        operation.result()
    assert sorted(operation.metadata.failed_requests) == [0, 1]
    assert list(client.list_tasks(parent=paused)) == []


@pytest.mark.parametrize("task", INVALID_TASKS.values(), ids=INVALID_TASKS.keys())
def test_each_task_is_checked_exactly_as_create_task_checks_it(client, paused, task):
    """CreateTask is the oracle: the batch reports the same code and message for the task."""
    with pytest.raises(gexc.GoogleAPICallError) as direct:
        client.create_task(parent=paused, task=task)
    operation = _batch(client, paused, [http_task(URL), task])
    (index, status), *_ = operation.metadata.failed_requests.items()
    assert index == 1
    assert status.code == direct.value.grpc_status_code.value[0]
    assert status.message == direct.value.message
    assert len(list(client.list_tasks(parent=paused))) == 1


def test_a_repeated_request_id_returns_the_same_operation_and_creates_nothing(client, paused):
    tasks = [http_task(URL), http_task(URL)]
    first = _batch(client, paused, tasks, request_id="batch-7c1f")
    again = _batch(client, paused, tasks, request_id="batch-7c1f")
    assert again.operation == first.operation
    assert len(list(client.list_tasks(parent=paused))) == 2
    other = _batch(client, paused, tasks, request_id="batch-other")
    assert other.operation.name != first.operation.name
    assert len(list(client.list_tasks(parent=paused))) == 4
    # Without a request id every call is a new operation.
    assert (
        _batch(client, paused, tasks).operation.name != _batch(client, paused, tasks).operation.name
    )


def test_a_lost_answer_is_recovered_by_retrying_with_the_request_id(client, paused, emulator):
    emulator.fail_next(1, grpc.StatusCode.UNAVAILABLE, method="BatchCreateTasks", after_commit=True)
    tasks = [http_task(URL) for _ in range(3)]
    with pytest.raises(gexc.ServiceUnavailable, match="after BatchCreateTasks took effect"):
        _batch(client, paused, tasks, request_id="retry-me")
    assert len(list(client.list_tasks(parent=paused))) == 3
    retried = _batch(client, paused, tasks, request_id="retry-me")
    assert len(retried.result().tasks) == 3
    assert len(list(client.list_tasks(parent=paused))) == 3


def test_an_injected_failure_before_commit_creates_nothing(client, paused, emulator):
    emulator.fail_next(1, grpc.StatusCode.RESOURCE_EXHAUSTED, method="BatchCreateTasks")
    with pytest.raises(gexc.ResourceExhausted):
        _batch(client, paused, [http_task(URL)])
    assert list(client.list_tasks(parent=paused)) == []


@pytest.mark.parametrize("count", [0, 101])
def test_a_batch_holds_1_to_100_requests(client, paused, count):
    with pytest.raises(gexc.InvalidArgument, match="1 to 100"):
        _batch(client, paused, [http_task(URL)] * count)
    assert list(client.list_tasks(parent=paused)) == []


def test_a_batch_of_100_is_accepted(client, paused):
    assert len(_batch(client, paused, [http_task(URL)] * 100).result().tasks) == 100


def test_every_request_must_name_the_batch_queue(client, paused):
    other = f"{PARENT}/queues/other"
    requests = [
        tasks_v2.CreateTaskRequest(parent=paused, task=http_task(URL)),
        tasks_v2.CreateTaskRequest(parent=other, task=http_task(URL)),
    ]
    with pytest.raises(gexc.InvalidArgument, match=r"requests\[1\]\.parent"):
        client.batch_create_tasks(parent=paused, requests=requests)
    with pytest.raises(gexc.InvalidArgument, match=r"requests\[0\]\.parent"):
        client.batch_create_tasks(
            parent=paused, requests=[tasks_v2.CreateTaskRequest(task=http_task(URL))]
        )
    assert list(client.list_tasks(parent=paused)) == []


def test_a_missing_queue_is_not_found_and_a_malformed_one_invalid(client):
    missing = f"{PARENT}/queues/missing"
    with pytest.raises(gexc.NotFound, match="--queue"):
        _batch(client, missing, [http_task(URL)])
    with pytest.raises(gexc.InvalidArgument, match="Queue name must be formatted"):
        _batch(client, "queues/q", [http_task(URL)])


def test_get_operation_returns_the_operation_again(client, paused):
    operation = _batch(client, paused, [http_task(URL), http_task("")])
    fetched = client.get_operation(request={"name": operation.operation.name})
    assert fetched == operation.operation
    assert fetched.done
    metadata = tasks_v2.BatchCreateTasksMetadata.deserialize(fetched.metadata.value)
    assert sorted(metadata.failed_requests) == [1]
    response = tasks_v2.BatchCreateTasksResponse.deserialize(fetched.response.value)
    assert len(response.tasks) == 1


def test_get_operation_refuses_unknown_and_malformed_names(client):
    with pytest.raises(gexc.NotFound):
        client.get_operation(request={"name": f"{PARENT}/operations/123"})
    with pytest.raises(gexc.InvalidArgument, match="Operation name must be formatted"):
        client.get_operation(request={"name": "operations/123"})


@pytest.mark.parametrize(
    ("method", "request_pb"),
    [
        ("ListOperations", operations_pb2.ListOperationsRequest(name=PARENT)),
        ("DeleteOperation", operations_pb2.DeleteOperationRequest(name=f"{PARENT}/operations/1")),
        ("CancelOperation", operations_pb2.CancelOperationRequest(name=f"{PARENT}/operations/1")),
        ("WaitOperation", operations_pb2.WaitOperationRequest(name=f"{PARENT}/operations/1")),
    ],
)
def test_the_other_operations_methods_are_unimplemented_as_on_the_service(
    emulator, method, request_pb
):
    with grpc.insecure_channel(emulator.address) as channel:
        call = channel.unary_unary(
            f"/google.longrunning.Operations/{method}",
            request_serializer=type(request_pb).SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        with pytest.raises(grpc.RpcError) as info:
            call(request_pb, timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "only GetOperation" in info.value.details()


def test_the_operations_client_of_the_library_sees_the_same(client, paused):
    operation = _batch(client, paused, [http_task(URL)])
    operations = client._transport.operations_client
    assert operations.get_operation(operation.operation.name) == operation.operation
    with pytest.raises(gexc.MethodNotImplemented):
        operations.delete_operation(operation.operation.name)
    with pytest.raises(gexc.MethodNotImplemented):
        list(operations.list_operations(PARENT, ""))


def test_get_operation_takes_injected_faults(client, paused, emulator):
    operation = _batch(client, paused, [http_task(URL)])
    emulator.fail_next(1, grpc.StatusCode.UNAVAILABLE, method="GetOperation")
    with pytest.raises(gexc.ServiceUnavailable):
        client.get_operation(request={"name": operation.operation.name}, retry=None)
    assert client.get_operation(request={"name": operation.operation.name}).done


async def _async_batch(address):
    from google.cloud.tasks_v2.services.cloud_tasks.transports import (
        CloudTasksGrpcAsyncIOTransport,
    )

    channel = grpc.aio.insecure_channel(address)
    try:
        client = tasks_v2.CloudTasksAsyncClient(
            transport=CloudTasksGrpcAsyncIOTransport(channel=channel)
        )
        operation = await client.batch_create_tasks(
            parent=QUEUE, requests=_requests(QUEUE, http_task(URL), http_task(URL))
        )
        return await operation.result()
    finally:
        await channel.close()


def test_the_async_client_batches_too(client, paused, emulator):
    import asyncio

    result = asyncio.run(_async_batch(emulator.address))
    assert len(result.tasks) == 2
    assert len(list(client.list_tasks(parent=paused))) == 2


RUNNING = tasks_v2.BatchCreateTasksMetadata.State.RUNNING


def test_a_deferred_operation_runs_until_polled_and_the_client_polls_it(client, paused, emulator):
    emulator.defer_operations(1, polls=2)
    operation = _batch(client, paused, [http_task(URL), http_task(URL)], request_id="slow-1")
    assert operation.operation.done is False
    assert operation.metadata.state == RUNNING
    # The tasks exist; only the answer is held back.
    assert len(list(client.list_tasks(parent=paused))) == 2
    # A retry with the same request id sees the same running operation, creating nothing.
    again = _batch(client, paused, [http_task(URL), http_task(URL)], request_id="slow-1")
    assert again.operation == operation.operation
    name = operation.operation.name
    assert client.get_operation(request={"name": name}).done is False  # poll 1
    assert client.get_operation(request={"name": name}).done is True  # poll 2
    assert client.get_operation(request={"name": name}).done is True
    # The client's own polling sees it done and returns the result.
    assert len(operation.result(timeout=10).tasks) == 2
    assert operation.metadata.state == SUCCEEDED
    assert len(list(client.list_tasks(parent=paused))) == 2


def test_operation_result_polls_get_operation_until_done(client, paused, emulator):
    emulator.defer_operations(2)
    first = _batch(client, paused, [http_task(URL)])
    second = _batch(client, paused, [http_task(URL), http_task("")])
    third = _batch(client, paused, [http_task(URL)])
    assert (first.operation.done, second.operation.done, third.operation.done) == (
        False,
        False,
        True,
    )
    assert len(first.result(timeout=10).tasks) == 1
    assert len(second.result(timeout=10).tasks) == 1
    assert sorted(second.metadata.failed_requests) == [1]
    assert second.metadata.state == PARTIALLY_SUCCEEDED


def test_deferred_operations_are_cleared_with_the_faults(client, paused, emulator):
    emulator.defer_operations(3)
    emulator.clear_faults()
    assert _batch(client, paused, [http_task(URL)]).operation.done is True


@pytest.mark.parametrize(("n", "polls"), [(0, 1), (1, 0), (True, 1), (1, 1.5)])
def test_defer_operations_takes_positive_ints(emulator, n, polls):
    with pytest.raises(ValueError, match="positive int"):
        emulator.defer_operations(n, polls=polls)


def test_defer_operations_needs_a_started_emulator():
    from dispatch.emulator import Emulator

    with pytest.raises(RuntimeError, match="not started"):
        Emulator().defer_operations(1)
