"""Queue methods through the real client: defaults, validation, errors, pause/purge/delete."""

from __future__ import annotations

import grpc
import pytest
from emulator_support import PARENT, QUEUE, client_for, fast_queue, http_task
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2
from google.protobuf import field_mask_pb2

from dispatch.emulator import Emulator


def test_create_queue_fills_the_service_defaults(client):
    created = client.create_queue(parent=PARENT, queue={"name": QUEUE})
    assert created.state == tasks_v2.Queue.State.RUNNING
    assert created.rate_limits.max_dispatches_per_second == 500
    assert created.rate_limits.max_burst_size == 100
    assert created.rate_limits.max_concurrent_dispatches == 1000
    rc = created.retry_config
    assert (rc.max_attempts, rc.max_doublings) == (100, 16)
    assert rc.min_backoff.total_seconds() == pytest.approx(0.1)
    assert rc.max_backoff.total_seconds() == 3600
    assert client.get_queue(name=QUEUE) == created


def test_create_queue_twice_is_already_exists(client, queue):
    with pytest.raises(gexc.AlreadyExists, match="Queue already exists"):
        client.create_queue(parent=PARENT, queue={"name": queue})


@pytest.mark.parametrize(
    ("parent", "name"),
    [
        (PARENT, f"{PARENT}/queues/under_score"),
        (PARENT, f"{PARENT}/queues/" + "q" * 101),
        (PARENT, "work"),
        (PARENT, ""),
        ("projects/other/locations/l", f"{PARENT}/queues/q"),
        ("not-a-parent", "not-a-parent/queues/q"),
    ],
)
def test_malformed_queue_names_are_invalid_argument(client, parent, name):
    with pytest.raises(gexc.InvalidArgument):
        client.create_queue(parent=parent, queue={"name": name})


@pytest.mark.parametrize(
    "settings",
    [
        {"rate_limits": {"max_dispatches_per_second": 501}},
        {"rate_limits": {"max_dispatches_per_second": -1}},
        {"rate_limits": {"max_concurrent_dispatches": 5001}},
        {"retry_config": {"max_attempts": -2}},
        {"retry_config": {"min_backoff": {"seconds": 10}, "max_backoff": {"seconds": 1}}},
        {"retry_config": {"max_doublings": -1}},
        {"stackdriver_logging_config": {"sampling_ratio": 1.5}},
    ],
)
def test_queue_settings_out_of_range_are_invalid_argument(client, settings):
    with pytest.raises(gexc.InvalidArgument):
        client.create_queue(parent=PARENT, queue={"name": QUEUE, **settings})


def test_queue_level_http_target_and_app_engine_routing_are_unimplemented(client):
    with pytest.raises(gexc.MethodNotImplemented, match=r"Queue\.http_target"):
        client.create_queue(
            parent=PARENT, queue={"name": QUEUE, "http_target": {"http_method": "GET"}}
        )
    with pytest.raises(gexc.MethodNotImplemented, match="App Engine"):
        client.create_queue(
            parent=PARENT,
            queue={"name": QUEUE, "app_engine_routing_override": {"service": "s"}},
        )


def test_missing_queue_is_not_found_for_every_queue_method(client):
    missing = f"{PARENT}/queues/missing"
    for call in (
        client.get_queue,
        client.pause_queue,
        client.resume_queue,
        client.purge_queue,
        client.delete_queue,
    ):
        with pytest.raises(gexc.NotFound):
            call(name=missing)
    with pytest.raises(gexc.NotFound, match="Queue does not exist"):
        client.create_task(parent=missing, task=http_task("http://127.0.0.1:9/x"))
    with pytest.raises(gexc.NotFound):
        list(client.list_tasks(parent=missing))


def test_list_queues_pages_and_filters(client):
    names = [f"{PARENT}/queues/q{i}" for i in range(5)]
    for name in names:
        client.create_queue(parent=PARENT, queue={"name": name})
    client.create_queue(
        parent="projects/emu-test/locations/elsewhere",
        queue={"name": "projects/emu-test/locations/elsewhere/queues/q0"},
    )
    client.pause_queue(name=names[3])
    first = client.list_queues(request={"parent": PARENT, "page_size": 2})
    assert [q.name for q in first.queues] == names[:2]
    assert first.next_page_token
    assert [q.name for q in client.list_queues(parent=PARENT)] == names
    paused = client.list_queues(request={"parent": PARENT, "filter": "state: PAUSED"})
    assert [q.name for q in paused] == [names[3]]
    with pytest.raises(gexc.InvalidArgument, match="filter"):
        list(client.list_queues(request={"parent": PARENT, "filter": "name: q1"}))
    with pytest.raises(gexc.InvalidArgument, match="page_token"):
        list(client.list_queues(request={"parent": PARENT, "page_token": "!!"}))


def test_update_queue_honours_the_mask_and_creates_a_missing_queue(client, queue):
    updated = client.update_queue(
        queue={
            "name": queue,
            "rate_limits": {"max_dispatches_per_second": 7, "max_concurrent_dispatches": 3},
            "retry_config": {"max_attempts": 42},
        },
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_dispatches_per_second"]),
    )
    assert updated.rate_limits.max_dispatches_per_second == 7
    assert updated.rate_limits.max_burst_size == 7
    assert updated.rate_limits.max_concurrent_dispatches == 1000  # not in the mask
    assert updated.retry_config.max_attempts == 5  # not in the mask
    # A path naming a whole message replaces it: unset fields go back to the defaults.
    replaced = client.update_queue(
        queue={"name": queue, "retry_config": {"max_attempts": 7}},
        update_mask=field_mask_pb2.FieldMask(paths=["retry_config"]),
    )
    assert replaced.retry_config.max_attempts == 7
    assert replaced.retry_config.min_backoff.total_seconds() == pytest.approx(0.1)
    assert replaced.rate_limits.max_dispatches_per_second == 7
    with pytest.raises(gexc.InvalidArgument, match="output-only"):
        client.update_queue(
            queue={"name": queue}, update_mask=field_mask_pb2.FieldMask(paths=["state"])
        )
    with pytest.raises(gexc.InvalidArgument, match="update_mask"):
        client.update_queue(
            queue={"name": queue}, update_mask=field_mask_pb2.FieldMask(paths=["nope"])
        )
    fresh = f"{PARENT}/queues/made-by-update"
    assert client.update_queue(queue={"name": fresh}).state == tasks_v2.Queue.State.RUNNING
    assert client.get_queue(name=fresh).name == fresh


def test_deleted_queue_cannot_be_recreated_within_the_reuse_window(client, queue):
    client.delete_queue(name=queue)
    with pytest.raises(gexc.NotFound):
        client.get_queue(name=queue)
    with pytest.raises(gexc.FailedPrecondition, match="existed too recently"):
        client.create_queue(parent=PARENT, queue={"name": queue})


def test_a_queue_can_be_recreated_once_the_reuse_window_passed():
    with (
        Emulator(port=0, queues=[QUEUE], queue_reuse_window=0) as emu,
        client_for(emu.address) as client,
    ):
        client.delete_queue(name=QUEUE)
        assert client.create_queue(parent=PARENT, queue={"name": QUEUE}).name == QUEUE


def test_pause_holds_deliveries_and_resume_releases_them(client, queue, worker, emulator):
    paused = client.pause_queue(name=queue)
    assert paused.state == tasks_v2.Queue.State.PAUSED
    client.create_task(parent=queue, task=http_task(worker.url + "/p"))
    # Holding is shown without a clock: a task on another queue is delivered while this
    # queue's task stays stored and undelivered.
    other = f"{PARENT}/queues/other"
    client.create_queue(parent=PARENT, queue=fast_queue(other))
    marker = client.create_task(parent=other, task=http_task(worker.url + "/marker"))
    got = worker.wait_for(1)
    assert [r.path for r in got] == ["/marker"]
    assert marker.name
    assert len(list(client.list_tasks(parent=queue))) == 1
    assert client.resume_queue(name=queue).state == tasks_v2.Queue.State.RUNNING
    got = worker.wait_for(2)
    assert sorted(r.path for r in got) == ["/marker", "/p"]


def test_purge_removes_every_task_and_records_the_time(client, queue, worker):
    client.pause_queue(name=queue)
    names = [
        client.create_task(parent=queue, task=http_task(worker.url + f"/{i}")).name
        for i in range(3)
    ]
    purged = client.purge_queue(name=queue)
    assert purged.purge_time.timestamp() > 0
    assert list(client.list_tasks(parent=queue)) == []
    for name in names:
        with pytest.raises(gexc.NotFound):
            client.get_task(name=name)
    client.resume_queue(name=queue)
    client.create_task(parent=queue, task=http_task(worker.url + "/after"))
    assert [r.path for r in worker.wait_for(1)] == ["/after"]


def test_iam_and_unknown_methods_answer_unimplemented_with_a_reason(client, emulator, queue):
    with pytest.raises(gexc.MethodNotImplemented, match="does not emulate IAM"):
        client.get_iam_policy(resource=queue)
    with pytest.raises(gexc.MethodNotImplemented, match="does not emulate IAM"):
        client.test_iam_permissions(resource=queue, permissions=["cloudtasks.tasks.create"])
    with grpc.insecure_channel(emulator.address) as channel:
        call = channel.unary_unary("/google.cloud.tasks.v2.CloudTasks/BatchDeleteTasks")
        with pytest.raises(grpc.RpcError) as info:
            call(b"")
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "does not implement" in info.value.details()
