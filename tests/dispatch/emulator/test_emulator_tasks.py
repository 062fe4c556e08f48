"""Task methods through the real client: every CreateTask rule, dedup, views, run/delete."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from emulator_support import PARENT, QUEUE, client_for, http_task
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2
from google.protobuf import duration_pb2, timestamp_pb2

from dispatch.emulator import Emulator, ManualClock

URL = "http://127.0.0.1:9/x"  # nothing listens: these tasks are paused and never delivered


@pytest.fixture
def paused(client, queue):
    client.pause_queue(name=queue)
    return queue


def _ts(seconds_from_now: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int((time.time() + seconds_from_now) * 1e9))
    return ts


INVALID_TASKS = {
    "id with a space": {"name": f"{QUEUE}/tasks/a b", **http_task(URL)},
    "id of 501 chars": {"name": f"{QUEUE}/tasks/" + "a" * 501, **http_task(URL)},
    "empty id": {"name": f"{QUEUE}/tasks/", **http_task(URL)},
    "id with a dot": {"name": f"{QUEUE}/tasks/a.b", **http_task(URL)},
    "name in another queue": {"name": f"{PARENT}/queues/other/tasks/t1", **http_task(URL)},
    "malformed name": {"name": "tasks/t1", **http_task(URL)},
    "no target": {},
    "ftp url": http_task("ftp://127.0.0.1/x"),
    "url without scheme": http_task("127.0.0.1/x"),
    "url without host": http_task("http:///x"),
    "url with a bad port": http_task("http://127.0.0.1:99999/x"),
    "empty url": http_task(""),
    "url over 2083": http_task("http://127.0.0.1/" + "a" * 2067),
    "body with GET": http_task(URL, b"x", http_method="GET"),
    "body with HEAD": http_task(URL, b"x", http_method="HEAD"),
    "body with DELETE": http_task(URL, b"x", http_method="DELETE"),
    "headers of 80 KB": http_task(URL, headers={"X-Big": "v" * (80 * 1024)}),
    "header name with a space": http_task(URL, headers={"Bad Name": "v"}),
    "header value with CRLF": http_task(URL, headers={"X-A": "v\r\nX-Injected: 1"}),
    "header value beyond latin-1": http_task(URL, headers={"X-A": "\u2603"}),
    "task over 1 MB": http_task(URL, b"x" * (1024 * 1024 + 1)),
    "schedule_time 31 days ahead": {**http_task(URL), "schedule_time": _ts(31 * 86400)},
    "oidc without an email": http_task(URL, oidc_token={"audience": "a"}),
    "retry_config max_attempts -2": {**http_task(URL), "retry_config": {"max_attempts": -2}},
}


@pytest.mark.parametrize("task", INVALID_TASKS.values(), ids=INVALID_TASKS.keys())
def test_create_task_rules_answer_invalid_argument(client, paused, task):
    with pytest.raises(gexc.InvalidArgument):
        client.create_task(parent=paused, task=task)
    assert list(client.list_tasks(parent=paused)) == []


def test_limits_are_inclusive_where_the_service_allows(client, paused):
    ok = [
        {"name": f"{QUEUE}/tasks/" + "a" * 500, **http_task(URL)},
        http_task("http://127.0.0.1/" + "a" * 2066),  # 2083 characters
        http_task(URL, b"x" * (1024 * 1024 - 200)),
        http_task(URL, headers={"X-Big": "v" * (80 * 1024 - 10)}),
        {**http_task(URL), "schedule_time": _ts(29 * 86400)},
        http_task("HTTPS://example.invalid/x", http_method="PUT"),
        http_task(URL, http_method="OPTIONS"),
    ]
    for task in ok:
        client.create_task(parent=paused, task=task)
    assert len(list(client.list_tasks(parent=paused))) == len(ok)


def test_the_url_length_counts_after_encoding(client, paused):
    # 2083 raw characters, but spaces become %20 on the wire: too long.
    with pytest.raises(gexc.InvalidArgument, match="2083"):
        client.create_task(parent=paused, task=http_task("http://127.0.0.1/" + "a b" * 688))


def test_dispatch_deadline_must_be_between_15_seconds_and_30_minutes():
    with Emulator(port=0, queues=[QUEUE]) as emu, client_for(emu.address) as client:
        client.pause_queue(name=QUEUE)
        for seconds in (14, 1801):
            with pytest.raises(gexc.InvalidArgument, match="dispatch_deadline"):
                client.create_task(
                    parent=QUEUE,
                    task={
                        **http_task(URL),
                        "dispatch_deadline": duration_pb2.Duration(seconds=seconds),
                    },
                )
        for seconds in (15, 1800):
            task = client.create_task(
                parent=QUEUE,
                task={
                    **http_task(URL),
                    "dispatch_deadline": duration_pb2.Duration(seconds=seconds),
                },
            )
            assert task.dispatch_deadline.total_seconds() == seconds
        default = client.create_task(parent=QUEUE, task=http_task(URL))
        assert default.dispatch_deadline.total_seconds() == 600


def test_app_engine_and_oauth_targets_are_unimplemented(client, paused):
    with pytest.raises(gexc.MethodNotImplemented, match="App Engine"):
        client.create_task(parent=paused, task={"app_engine_http_request": {"relative_uri": "/x"}})
    with pytest.raises(gexc.MethodNotImplemented, match="oauth_token"):
        client.create_task(
            parent=paused, task=http_task(URL, oauth_token={"service_account_email": "a@b.c"})
        )


def test_a_named_task_is_reserved_while_it_exists_and_after_it_is_deleted(client, paused):
    name = f"{paused}/tasks/report-7f3a"
    created = client.create_task(parent=paused, task={"name": name, **http_task(URL)})
    assert created.name == name
    with pytest.raises(gexc.AlreadyExists):
        client.create_task(parent=paused, task={"name": name, **http_task(URL)})
    client.delete_task(name=name)
    with pytest.raises(gexc.NotFound, match="existed recently"):
        client.get_task(name=name)
    with pytest.raises(gexc.AlreadyExists):
        client.create_task(parent=paused, task={"name": name, **http_task(URL)})
    with pytest.raises(gexc.NotFound):
        client.delete_task(name=name)


def test_a_named_task_is_reserved_after_it_ran(client, queue, worker, emulator):
    name = f"{queue}/tasks/ran-once"
    client.create_task(parent=queue, task={"name": name, **http_task(worker.url + "/once")})
    worker.wait_for(1)
    with pytest.raises(gexc.AlreadyExists):
        client.create_task(parent=queue, task={"name": name, **http_task(worker.url + "/once")})
    # Refused, so never stored: nothing is left to deliver.
    assert [t.name for t in emulator.tasks(queue)] == []
    assert len(worker.received) == 1


def test_a_name_is_free_again_after_the_dedup_window(worker):
    clock = ManualClock()
    with (
        Emulator(port=0, queues=[QUEUE], dedup_window=0.3, clock=clock) as emu,
        client_for(emu.address) as client,
    ):
        client.pause_queue(name=QUEUE)
        name = f"{QUEUE}/tasks/short-lived"
        client.create_task(parent=QUEUE, task={"name": name, **http_task(URL)})
        client.delete_task(name=name)
        clock.advance(0.299)
        with pytest.raises(gexc.AlreadyExists):
            client.create_task(parent=QUEUE, task={"name": name, **http_task(URL)})
        clock.advance(0.001)
        assert client.create_task(parent=QUEUE, task={"name": name, **http_task(URL)}).name == name


def test_unnamed_tasks_get_unique_generated_ids(client, paused):
    names = {client.create_task(parent=paused, task=http_task(URL)).name for _ in range(200)}
    assert len(names) == 200
    for name in names:
        prefix, task_id = name.rsplit("/tasks/", 1)
        assert prefix == paused
        assert task_id.isdigit()


def test_basic_view_omits_the_body_and_full_view_returns_it(client, paused):
    task = {**http_task(URL, b'{"secret": 1}', headers={"Content-Type": "application/json"})}
    basic = client.create_task(parent=paused, task=task)
    assert basic.view == tasks_v2.Task.View.BASIC
    assert basic.http_request.body == b""
    assert basic.http_request.headers == {
        "Content-Type": "application/json",
        "User-Agent": "Google-Cloud-Tasks",
    }
    assert basic.http_request.http_method == tasks_v2.HttpMethod.POST
    full = client.get_task(request={"name": basic.name, "response_view": "FULL"})
    assert full.view == tasks_v2.Task.View.FULL
    assert full.http_request.body == b'{"secret": 1}'
    listed = client.list_tasks(request={"parent": paused, "response_view": "FULL"})
    assert [t.http_request.body for t in listed] == [b'{"secret": 1}']
    assert [t.http_request.body for t in client.list_tasks(parent=paused)] == [b""]


def test_times_are_set_and_truncated_as_the_service_does(client, paused):
    before = time.time()
    now_task = client.create_task(parent=paused, task=http_task(URL))
    assert now_task.create_time.timestamp() == int(now_task.create_time.timestamp())
    assert before - 1 <= now_task.create_time.timestamp() <= time.time()
    assert now_task.schedule_time.timestamp() >= before
    past = client.create_task(parent=paused, task={**http_task(URL), "schedule_time": _ts(-3600)})
    assert past.schedule_time.timestamp() >= before  # a past time becomes "now"
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    future = client.create_task(parent=paused, task={**http_task(URL), "schedule_time": later})
    assert future.schedule_time == later


def test_schedule_time_is_truncated_to_the_microsecond_not_rounded(client, paused):
    base = int(time.time()) + 3600
    for nanos, kept in [(123_456_999, 123_456_000), (999_999_999, 999_999_000), (1_500, 1_000)]:
        asked = timestamp_pb2.Timestamp(seconds=base, nanos=nanos)
        task = client.create_task(parent=paused, task={**http_task(URL), "schedule_time": asked})
        stored = client.get_task(name=task.name).schedule_time
        assert (int(stored.timestamp()), stored.microsecond * 1000) == (base, kept)


def test_dispatch_deadline_is_truncated_to_the_millisecond_not_rounded():
    with Emulator(port=0, queues=[QUEUE]) as emu, client_for(emu.address) as client:
        client.pause_queue(name=QUEUE)
        for asked, kept in [
            (duration_pb2.Duration(seconds=20, nanos=999_999), 20.0),
            (duration_pb2.Duration(seconds=20, nanos=1_999_999), 20.001),
            (duration_pb2.Duration(seconds=15, nanos=999_999_999), 15.999),
        ]:
            task = client.create_task(
                parent=QUEUE, task={**http_task(URL), "dispatch_deadline": asked}
            )
            assert task.dispatch_deadline.total_seconds() == kept
        # The range is checked on the value asked for: 30 min and a microsecond is too long.
        with pytest.raises(gexc.InvalidArgument, match="dispatch_deadline"):
            client.create_task(
                parent=QUEUE,
                task={
                    **http_task(URL),
                    "dispatch_deadline": duration_pb2.Duration(seconds=1800, nanos=1_000),
                },
            )


def test_list_tasks_pages(client, paused):
    names = sorted(
        client.create_task(
            parent=paused, task={"name": f"{paused}/tasks/t{i}", **http_task(URL)}
        ).name
        for i in range(5)
    )
    page = client.list_tasks(request={"parent": paused, "page_size": 2})
    assert [t.name for t in page.tasks] == names[:2]
    assert [t.name for t in client.list_tasks(request={"parent": paused, "page_size": 2})] == names


def test_malformed_task_names_are_invalid_for_get_delete_and_run(client, paused):
    for call in (client.get_task, client.delete_task, client.run_task):
        with pytest.raises(gexc.InvalidArgument):
            call(name=f"{paused}/tasks/not valid")
        with pytest.raises(gexc.NotFound, match="not found"):
            call(name=f"{paused}/tasks/never-made")


def test_run_task_delivers_now_even_on_a_paused_queue(client, paused, worker):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    task = client.create_task(
        parent=paused, task={**http_task(worker.url + "/run"), "schedule_time": later}
    )
    ran = client.run_task(name=task.name)
    assert ran.dispatch_count == 1
    assert ran.last_attempt.dispatch_time.timestamp() > 0
    assert [r.path for r in worker.wait_for(1)] == ["/run"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            client.get_task(name=task.name)
        except gexc.NotFound:
            break
        time.sleep(0.01)
    with pytest.raises(gexc.NotFound):
        client.run_task(name=task.name)  # succeeded: gone


def test_a_failed_run_task_reschedules_from_the_call_time(client, paused, worker):
    worker.answer(500)
    task = client.create_task(parent=paused, task=http_task(worker.url + "/fail"))
    called = time.time()
    client.run_task(name=task.name)
    returned = time.time()
    worker.wait_for(1)
    deadline = time.monotonic() + 5
    while (t := client.get_task(name=task.name)).response_count == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # queue min_backoff is 50 ms: the new ETA is the RunTask call + 50 ms.
    assert called + 0.05 <= t.schedule_time.timestamp() <= returned + 0.05
    assert t.last_attempt.response_status.code == 13  # INTERNAL, from HTTP 500
