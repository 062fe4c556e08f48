"""Delivery to a real HTTP server on loopback: headers, retries, deadlines, limits."""

from __future__ import annotations

import email.utils
import itertools
import threading
import time

import pytest
import structlog
from emulator_support import PARENT, Reply, http_task
from google.api_core import exceptions as gexc
from google.protobuf import duration_pb2, timestamp_pb2

from dispatch.emulator._rules import Retry

CLOUD_TASKS_HEADERS = {
    "X-Cloudtasks-Queuename",
    "X-Cloudtasks-Taskname",
    "X-Cloudtasks-Taskretrycount",
    "X-Cloudtasks-Taskexecutioncount",
    "X-Cloudtasks-Tasketa",
    "X-Cloudtasks-Taskpreviousresponse",
    "X-Cloudtasks-Taskretryreason",
}


def _header(received, name):
    matches = [v for k, v in received.headers.items() if k.lower() == name.lower()]
    return matches[0] if matches else None


def _make_queue(client, short, **settings):
    name = f"{PARENT}/queues/{short}"
    client.create_queue(parent=PARENT, queue={"name": name, **settings})
    return name


def _delays(client, name, attempts, timeout=10.0):
    """Poll GetTask; for each settled attempt n, the wait the emulator scheduled after it."""
    seen = {}
    deadline = time.monotonic() + timeout
    while len(seen) < attempts and time.monotonic() < deadline:
        try:
            t = client.get_task(name=name)
        except gexc.NotFound:
            break
        if t.dispatch_count and "response_time" in t.last_attempt:
            seen[t.dispatch_count] = (
                t.schedule_time.timestamp() - t.last_attempt.response_time.timestamp(),
                t.last_attempt.response_status.code,
            )
        time.sleep(0.003)
    return seen


def _wait_until_gone(client, name, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.get_task(name=name)
        except gexc.NotFound:
            return
        time.sleep(0.01)
    pytest.fail(f"{name} was never given up")


def test_the_request_carries_the_task_and_the_cloud_tasks_headers(client, queue, worker):
    task = client.create_task(
        parent=queue,
        task=http_task(
            worker.url + "/jobs/run?x=1&y=%2F",
            b'{"a": 1}',
            headers={
                "Content-Type": "application/json",
                "X-Trace": "abc",
                "Host": "evil.example",
                "User-Agent": "mine",
                "X-CloudTasks-TaskName": "spoofed",
                "X-Google-Internal": "no",
                "X-AppEngine-Country": "no",
            },
        ),
    )
    (got,) = worker.wait_for(1)
    assert got.method == "POST"
    assert got.path == "/jobs/run?x=1&y=%2F"
    assert got.body == b'{"a": 1}'
    h = got.headers
    assert h["Host"] == f"127.0.0.1:{worker.port}"
    assert h["Content-Type"] == "application/json"
    assert h["Content-Length"] == "8"
    assert h["X-Trace"] == "abc"
    assert h["User-Agent"] == "Google-Cloud-Tasks"
    assert h["X-CloudTasks-QueueName"] == "work"
    assert h["X-CloudTasks-TaskName"] == task.name.rsplit("/", 1)[1]
    assert h["X-CloudTasks-TaskRetryCount"] == "0"
    assert h["X-CloudTasks-TaskExecutionCount"] == "0"
    assert float(h["X-CloudTasks-TaskETA"]) == pytest.approx(
        task.schedule_time.timestamp(), abs=1e-6
    )
    assert "X-CloudTasks-TaskPreviousResponse" not in h
    assert "X-CloudTasks-TaskRetryReason" not in h
    assert not {k for k in h if k.lower().startswith(("x-google-", "x-appengine-"))}
    assert "Authorization" not in h
    assert "Accept-Encoding" not in h
    assert [n for n in got.header_names if n.lower() == "x-cloudtasks-taskname"] == [
        "X-CloudTasks-TaskName"
    ]


@pytest.mark.parametrize(
    ("method", "body"),
    [("PUT", b"p"), ("PATCH", b"q"), ("GET", b""), ("DELETE", b""), ("HEAD", b"")],
)
def test_each_http_method_is_sent_as_such(client, queue, worker, method, body):
    client.create_task(parent=queue, task=http_task(worker.url + "/m", body, http_method=method))
    (got,) = worker.wait_for(1)
    assert (got.method, got.body) == (method, body)
    if not body and method != "PATCH":
        assert "Content-Length" not in got.headers


def test_retries_carry_counts_previous_response_and_reason(client, queue, worker, emulator):
    worker.answer(503, 404)
    client.create_task(parent=queue, task=http_task(worker.url + "/r"))
    got = worker.wait_for(3)
    assert [_header(r, "X-CloudTasks-TaskRetryCount") for r in got] == ["0", "1", "2"]
    # The execution count leaves out 5xx answers: 503 does not count, 404 does.
    assert [_header(r, "X-CloudTasks-TaskExecutionCount") for r in got] == ["0", "0", "1"]
    assert [_header(r, "X-CloudTasks-TaskPreviousResponse") for r in got] == [None, "503", "404"]
    assert [_header(r, "X-CloudTasks-TaskRetryReason") for r in got] == [None, "", ""]
    for r in got:
        assert r.arrived_at >= float(_header(r, "X-CloudTasks-TaskETA")) - 1e-3
    outcomes = [d.outcome for d in emulator.wait_for_deliveries(3)]
    assert outcomes == ["http_error", "http_error", "success"]


def test_backoff_follows_min_backoff_doublings_and_max_backoff(client, worker):
    name = _make_queue(
        client,
        "backoff",
        retry_config={
            "max_attempts": 5,
            "min_backoff": duration_pb2.Duration(nanos=150_000_000),
            "max_backoff": duration_pb2.Duration(nanos=600_000_000),
            "max_doublings": 1,
        },
    )
    worker.answer(then=500)
    task = client.create_task(parent=name, task=http_task(worker.url + "/b"))
    seen = _delays(client, task.name, attempts=4)
    # 0.15, doubled once to 0.3, then linear steps of 0.3 (0.6) capped at 0.6. Each settled
    # attempt shows the wait it was given, exactly: schedule_time - last response time.
    expected = {1: 0.15, 2: 0.3, 3: 0.6, 4: 0.6}
    assert len(seen) >= 3, seen  # a very slow machine may miss one state, never most
    assert {n: round(d, 5) for n, (d, _) in seen.items()} == {n: expected[n] for n in seen}
    assert {code for _, code in seen.values()} == {13}  # HTTP 500 -> INTERNAL
    got = worker.wait_for(5)
    for before, after in itertools.pairwise(got):
        assert after.arrived_at - before.left_at >= 0.15 - 1e-3
    # Five attempts, then the task is deleted and its name stays reserved.
    _wait_until_gone(client, task.name)
    with pytest.raises(gexc.NotFound, match="existed recently"):
        client.get_task(name=task.name)
    # Gone from the store, so nothing more can be sent; every attempt reached the worker
    # before the emulator settled it.
    assert len(worker.received) == 5


def test_retry_delay_formula_matches_the_reference_example():
    # RetryConfig docs: min 10s, max 300s, 3 doublings -> 10, 20, 40, 80, 160, 240, 300, 300.
    r = Retry(
        max_attempts=100, min_backoff=10, max_backoff=300, max_doublings=3, max_retry_duration=0
    )
    assert [r.delay(k) for k in range(1, 9)] == [10, 20, 40, 80, 160, 240, 300, 300]
    linear = Retry(100, 1.0, 100.0, 0, 0)
    assert [linear.delay(k) for k in range(1, 5)] == [1, 2, 3, 4]
    huge = Retry(100, 0.1, 3600.0, 10_000, 0)
    assert huge.delay(5000) == 3600.0


@pytest.mark.parametrize(
    ("max_attempts", "duration", "attempts", "elapsed", "done"),
    [
        (3, 0, 3, 0, True),
        (3, 0, 2, 999, False),
        (-1, 0, 10_000, 10_000, False),
        (-1, 5, 1, 5, True),
        (-1, 5, 99, 4.9, False),
        (2, 5, 2, 4, False),  # attempts reached, duration not: keep going
        (2, 5, 1, 6, False),  # duration reached, attempts not: keep going
        (2, 5, 2, 5, True),
    ],
)
def test_retrying_stops_only_when_both_limits_are_reached(
    max_attempts, duration, attempts, elapsed, done
):
    r = Retry(max_attempts, 0.1, 1.0, 16, duration)
    assert r.exhausted(attempts, elapsed) is done


def test_max_retry_duration_keeps_retrying_past_max_attempts(client, worker):
    name = _make_queue(
        client,
        "duration",
        retry_config={
            "max_attempts": 2,
            "max_retry_duration": duration_pb2.Duration(nanos=400_000_000),
            "min_backoff": duration_pb2.Duration(nanos=100_000_000),
            "max_backoff": duration_pb2.Duration(nanos=100_000_000),
        },
    )
    worker.answer(then=500)
    task = client.create_task(parent=name, task=http_task(worker.url + "/d"))
    _wait_until_gone(client, task.name)
    assert len(worker.received) >= 3


def test_retry_after_is_honoured_on_429_and_503_only(client, worker):
    name = _make_queue(
        client,
        "retry-after",
        retry_config={"min_backoff": duration_pb2.Duration(nanos=300_000_000), "max_attempts": 3},
    )
    answers = {
        "/429": Reply(429, {"Retry-After": "1"}),
        "/500": Reply(500, {"Retry-After": "7"}),
        "/503": Reply(503, {"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)}),
    }
    seen_paths: set[str] = set()

    def behaviour(r):
        if r.path in seen_paths:
            return Reply(200)
        seen_paths.add(r.path)
        return answers[r.path]

    worker.behave(behaviour)
    delays = {}
    for path in answers:
        task = client.create_task(parent=name, task=http_task(worker.url + path))
        delays[path] = _delays(client, task.name, attempts=1)[1][0]
    assert delays["/429"] == pytest.approx(1.0, abs=1e-5)
    assert delays["/500"] == pytest.approx(0.3, abs=1e-5)  # Retry-After ignored
    assert 0.9 <= delays["/503"] <= 2.0  # an HTTP date, whole seconds
    worker.wait_for(6)


def test_an_absurd_retry_after_still_leaves_a_retryable_task(client, queue, worker, emulator):
    # 10**30 seconds is past the Timestamp range: the retry lands on its last second
    # instead of the task being stranded (neither retried nor deleted).
    worker.behave(lambda r: Reply(503, {"Retry-After": "9" * 30}))
    task = client.create_task(parent=queue, task=http_task(worker.url + "/forever"))
    worker.wait_for(1)
    deadline = time.monotonic() + 5
    while (t := client.get_task(name=task.name)).response_count == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert t.schedule_time.year == 9999
    assert t.last_attempt.response_status.code == 14  # UNAVAILABLE, from HTTP 503
    # Still there, still runnable: RunTask delivers it at once.
    worker.behave(lambda r: Reply(200))
    client.run_task(name=task.name)
    worker.wait_for(2)
    _wait_until_gone(client, task.name)


def test_a_non_ascii_digit_retry_after_is_ignored_not_a_connection_error(
    client, queue, worker, emulator
):
    worker.behave(
        lambda r: (
            Reply(503, {"Retry-After": "\u00b2"})
            if r.headers["X-CloudTasks-TaskRetryCount"] == "0"
            else Reply(200)
        )
    )
    client.create_task(parent=queue, task=http_task(worker.url + "/sq"))
    got = emulator.wait_for_deliveries(2)
    assert [(d.status, d.outcome) for d in got] == [(503, "http_error"), (200, "success")]


def test_a_refused_connection_is_retried_without_a_previous_response(client, queue, emulator):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    task = client.create_task(parent=queue, task=http_task(f"http://127.0.0.1:{closed_port}/x"))
    got = emulator.wait_for_deliveries(2)
    assert [d.outcome for d in got[:2]] == ["connection_error", "connection_error"]
    assert got[1].headers["X-CloudTasks-TaskRetryCount"] == "1"
    assert "X-CloudTasks-TaskPreviousResponse" not in got[1].headers
    current = client.get_task(name=task.name)
    assert current.response_count == 0
    assert current.dispatch_count >= 2


def test_the_dispatch_deadline_cuts_a_slow_handler_and_the_task_is_retried(
    client, queue, worker, emulator
):
    first = threading.Event()

    def behaviour(r):
        if not first.is_set():
            first.set()
            return Reply(hold=30)
        return Reply(200)

    worker.behave(behaviour)
    client.create_task(
        parent=queue,
        task={
            **http_task(worker.url + "/slow"),
            "dispatch_deadline": duration_pb2.Duration(nanos=300_000_000),
        },
    )
    got = emulator.wait_for_deliveries(2)
    assert [d.outcome for d in got] == ["deadline_exceeded", "success"]
    assert got[0].status is None
    assert got[0].responded_at - got[0].dispatched_at >= 0.3 - 1e-3
    # As the real service sends after a deadline: a 504 from the target, an empty reason.
    assert "X-CloudTasks-TaskPreviousResponse" not in got[0].headers
    assert got[1].headers["X-CloudTasks-TaskPreviousResponse"] == "504"
    assert got[1].headers["X-CloudTasks-TaskRetryReason"] == ""
    assert got[1].headers["X-CloudTasks-TaskRetryCount"] == "1"
    # No response was received: the execution count does not move.
    assert got[1].headers["X-CloudTasks-TaskExecutionCount"] == "0"


def test_the_deadline_bounds_the_whole_response_not_each_read(client, queue, worker, emulator):
    # Headers trickle in every 100 ms: no single read is slow, the whole answer is.
    worker.behave(
        lambda r: (
            Reply(200, trickle=0.1)
            if r.headers["X-CloudTasks-TaskRetryCount"] == "0"
            else Reply(200)
        )
    )
    client.create_task(
        parent=queue,
        task={
            **http_task(worker.url + "/trickle"),
            "dispatch_deadline": duration_pb2.Duration(nanos=400_000_000),
        },
    )
    got = emulator.wait_for_deliveries(2)
    assert [d.outcome for d in got] == ["deadline_exceeded", "success"]


def test_max_concurrent_dispatches_is_never_exceeded(client, worker):
    name = _make_queue(client, "narrow", rate_limits={"max_concurrent_dispatches": 2})
    worker.behave(lambda r: Reply(hold=0.15))
    client.pause_queue(name=name)  # all six become due together on resume
    for i in range(6):
        client.create_task(parent=name, task=http_task(worker.url + f"/{i}"))
    client.resume_queue(name=name)
    worker.wait_for(6)
    deadline = time.monotonic() + 5
    while worker.active:
        assert time.monotonic() < deadline, "deliveries still active"
        time.sleep(0.01)
    assert worker.max_active == 2


def test_a_hanging_handler_does_not_block_other_tasks(client, worker, emulator):
    name = _make_queue(client, "hang", rate_limits={"max_concurrent_dispatches": 3})
    worker.behave(lambda r: Reply(hold=60) if r.path == "/hang" else Reply(200))
    client.create_task(parent=name, task=http_task(worker.url + "/hang"))
    worker.wait_for(1)
    for i in range(10):
        client.create_task(parent=name, task=http_task(worker.url + f"/ok{i}"))
    done = emulator.wait_for_deliveries(10, where=lambda d: d.outcome == "success")
    assert sorted(d.url.rsplit("/", 1)[1] for d in done) == sorted(f"ok{i}" for i in range(10))
    assert worker.active == 1  # the hanging one is still in flight


def test_max_dispatches_per_second_spaces_dispatches(client, worker, emulator):
    name = _make_queue(client, "slow-rate", rate_limits={"max_dispatches_per_second": 10})
    assert client.get_queue(name=name).rate_limits.max_burst_size == 10
    for i in range(20):
        client.create_task(parent=name, task=http_task(worker.url + f"/{i}"))
    got = emulator.wait_for_deliveries(20, timeout=15)
    times = sorted(d.dispatched_at for d in got)
    # A token bucket of 10 refilled at 10/s: the 20th dispatch cannot come before ~1 s.
    assert times[-1] - times[0] >= 0.9
    for i, t in enumerate(times):
        within_a_second = [u for u in times[i:] if u - t < 1.0]
        assert len(within_a_second) <= 10 + 10 + 1


def test_many_tasks_from_many_threads_are_each_delivered_once(client, worker, emulator):
    name = _make_queue(client, "busy")
    created: list[str] = []
    lock = threading.Lock()

    def produce(n):
        for i in range(50):
            t = client.create_task(parent=name, task=http_task(worker.url + f"/{n}/{i}"))
            with lock:
                created.append(t.name)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(created)) == 400
    got = worker.wait_for(400, timeout=30)
    # Once every task is settled no delivery can follow: none was sent twice.
    deadline = time.monotonic() + 10
    while emulator.tasks(name):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert len(worker.received) == 400
    assert sorted(r.path for r in got) == sorted(f"/{n}/{i}" for n in range(8) for i in range(50))
    delivered = {d.task for d in emulator.deliveries()}
    assert delivered == set(created)


def test_every_delivery_is_logged_without_body_token_or_header_values(client, queue, worker):
    secret_body = b"body-secret-4242"
    with structlog.testing.capture_logs() as logs:
        client.create_task(
            parent=queue,
            task=http_task(
                worker.url + "/logged?token=query-secret",
                secret_body,
                headers={"X-Api-Key": "header-secret-77"},
                oidc_token={"service_account_email": "sa@p.iam.gserviceaccount.com"},
            ),
        )
        (got,) = worker.wait_for(1)
        deadline = time.monotonic() + 5
        while not any(e["event"] == "tasks.emulator.delivery" for e in logs):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    (event,) = [e for e in logs if e["event"] == "tasks.emulator.delivery"]
    assert event["status"] == 200
    assert event["outcome"] == "success"
    assert event["queue"] == "work"
    assert event["target"] == f"{worker.url}/logged"
    token = got.headers["Authorization"].split()[1]
    text = repr(logs)
    for secret in ("body-secret-4242", "header-secret-77", "query-secret", token[-20:]):
        assert secret not in text


def test_a_task_level_retry_config_overrides_the_queues(client, queue, worker, emulator):
    worker.answer(then=500)
    task = client.create_task(
        parent=queue,
        task={**http_task(worker.url + "/own-retry"), "retry_config": {"max_attempts": 2}},
    )
    assert task.retry_config.max_attempts == 2
    # Fields the task leaves unset come from the queue (50 ms min backoff here).
    assert task.retry_config.min_backoff.total_seconds() == pytest.approx(0.05)
    _wait_until_gone(client, task.name)
    assert [d.retry_count for d in emulator.deliveries()] == [0, 1]


def test_a_task_is_not_delivered_before_its_schedule_time(client, queue, worker):
    when = time.time() + 0.4
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(when * 1e9))
    task = client.create_task(
        parent=queue, task={**http_task(worker.url + "/later"), "schedule_time": ts}
    )
    (got,) = worker.wait_for(1)
    assert got.arrived_at >= task.schedule_time.timestamp()
    assert float(got.headers["X-CloudTasks-TaskETA"]) == pytest.approx(when, abs=1e-6)


def test_recorded_delivery_headers_are_case_insensitive_and_keep_their_names(
    client, queue, worker, emulator
):
    client.create_task(parent=queue, task=http_task(worker.url + "/case", headers={"X-Mixed": "1"}))
    (delivery,) = emulator.wait_for_deliveries(1)
    headers = delivery.headers
    assert headers["x-cloudtasks-taskname"] == headers["X-CloudTasks-TaskName"]
    assert headers["X-MIXED"] == "1"
    assert "user-agent" in headers
    assert "x-absent" not in headers
    assert headers.get("x-absent") is None
    assert "X-CloudTasks-QueueName" in list(headers)
    assert dict(headers)["X-CloudTasks-QueueName"] == "work"
    with pytest.raises(TypeError):
        headers["X-Mixed"] = "2"  # read-only
