"""At-least-once delivery: duplicates of successful deliveries, and due tasks out of ETA order."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import structlog
from emulator_support import PARENT, QUEUE, Reply, client_for, http_task

from dispatch.emulator import Emulator

CLOUD_TASKS = (
    "X-CloudTasks-QueueName",
    "X-CloudTasks-TaskName",
    "X-CloudTasks-TaskRetryCount",
    "X-CloudTasks-TaskExecutionCount",
    "X-CloudTasks-TaskETA",
)


def _quiet(emulator, count, timeout=10.0):
    """The deliveries, once ``count`` were made and the emulator is idle (nothing stored,
    nothing in flight: every duplicate sent)."""
    emulator.wait_for_deliveries(count, timeout=timeout)
    emulator.wait_idle(timeout)
    return emulator.deliveries()


def test_duplicate_next_delivers_the_same_request_again(client, queue, worker, emulator):
    emulator.duplicate_next(1)
    task = client.create_task(
        parent=queue,
        task=http_task(
            worker.url + "/charge?order=7",
            b'{"amount": 100}',
            headers={"Content-Type": "application/json", "X-Trace": "t-1"},
            oidc_token={"service_account_email": "tasks@p.iam.gserviceaccount.com"},
        ),
    )
    first, second = worker.wait_for(2)
    for name in (*CLOUD_TASKS, "Content-Type", "X-Trace", "User-Agent"):
        assert second.headers[name] == first.headers[name], name
    assert first.headers["X-CloudTasks-TaskName"] == task.name.rsplit("/", 1)[1]
    assert (second.method, second.path, second.body) == (first.method, first.path, first.body)
    assert second.headers["Authorization"].startswith("Bearer ")
    assert "X-CloudTasks-TaskPreviousResponse" not in second.headers
    deliveries = _quiet(emulator, 2)
    assert [(d.duplicate, d.outcome) for d in deliveries] == [(False, "success"), (True, "success")]
    assert deliveries[0].task == deliveries[1].task == task.name
    assert len(emulator.deliveries()) == 2  # exactly one more, not more


def test_what_the_worker_answers_a_duplicate_changes_nothing(client, queue, worker, emulator):
    worker.answer(200, 500)
    emulator.duplicate_next(1)
    client.create_task(parent=queue, task=http_task(worker.url + "/x"))
    deliveries = _quiet(emulator, 2)
    assert [(d.status, d.duplicate) for d in deliveries] == [(200, False), (500, True)]
    assert len(emulator.deliveries()) == 2  # no retry after the duplicate's 500


def test_only_successes_are_delivered_again(client, queue, worker):
    with (
        Emulator(port=0, queues=[QUEUE], duplicate_deliveries=1.0, seed=1) as emu,
        client_for(emu.address) as c,
    ):
        c.update_queue(
            queue={"name": QUEUE, "retry_config": {"min_backoff": {"nanos": 10_000_000}}},
            update_mask={"paths": ["retry_config.min_backoff"]},
        )
        worker.answer(503)
        for i in range(10):
            c.create_task(parent=QUEUE, task=http_task(worker.url + f"/{i}"))
        deliveries = _quiet(emu, 30)
    per_task = Counter(d.task for d in deliveries)
    assert set(per_task.values()) == {3}  # 503, 200, and the duplicate of the 200
    for task in per_task:
        mine = [(d.status, d.duplicate) for d in deliveries if d.task == task]
        assert mine == [(503, False), (200, False), (200, True)]
        retried = [d for d in deliveries if d.task == task and d.status == 200]
        assert {d.headers["X-CloudTasks-TaskRetryCount"] for d in retried} == {"1"}
        assert {d.headers["X-CloudTasks-TaskPreviousResponse"] for d in retried} == {"503"}


def _duplicates_at(rate, seed, worker, tasks=200):
    with (
        Emulator(port=0, queues=[QUEUE], duplicate_deliveries=rate, seed=seed) as emu,
        client_for(emu.address) as c,
    ):
        for i in range(tasks):
            c.create_task(parent=QUEUE, task=http_task(worker.url + f"/{i}"))
        emu.wait_for_deliveries(tasks, where=lambda d: not d.duplicate, timeout=30)
        emu.wait_idle(timeout=30)
        deliveries = emu.deliveries()
    successes = Counter(d.task for d in deliveries if d.outcome == "success" and not d.duplicate)
    assert set(successes.values()) == {1}, successes.most_common(3)
    assert len(successes) == tasks
    return sum(d.duplicate for d in deliveries)


def test_the_rate_is_the_share_of_successes_delivered_again_and_a_seed_replays_it(worker):
    first = _duplicates_at(0.25, 42, worker)
    # 200 draws at 0.25: 50 expected, sd 6.1; five sd either way.
    assert 20 <= first <= 80
    assert _duplicates_at(0.25, 42, worker) == first
    assert _duplicates_at(0.0, 42, worker) == 0


def _arrival_order(emulator, worker, count):
    with client_for(emulator.address) as c:
        name = f"{PARENT}/queues/one-at-a-time"
        c.create_queue(
            parent=PARENT, queue={"name": name, "rate_limits": {"max_concurrent_dispatches": 1}}
        )
        c.pause_queue(name=name)
        base = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        etas = []
        for i in range(count):
            task = c.create_task(
                parent=name,
                task={
                    **http_task(worker.url + f"/{i}"),
                    # All in the past, so all due now, one microsecond apart in ETA order.
                    "schedule_time": base + dt.timedelta(microseconds=i),
                },
            )
            etas.append(task.name)
        c.resume_queue(name=name)
        got = emulator.wait_for_deliveries(count, where=lambda d: not d.duplicate, timeout=30)
        emulator.wait_idle(timeout=30)
    assert sorted(d.task for d in got) == sorted(etas)
    return etas, [d.task for d in got]


def test_exactly_once_mode_dispatches_due_tasks_in_eta_order(worker, emulator):
    etas, order = _arrival_order(emulator, worker, 30)
    assert order == etas
    assert not any(d.duplicate for d in emulator.deliveries())


def test_at_least_once_mode_dispatches_due_tasks_out_of_eta_order(worker):
    with Emulator(port=0, duplicate_deliveries=0.01, seed=5) as emu:
        etas, order = _arrival_order(emu, worker, 30)
    assert order != etas
    # Out of order, but not arbitrarily: each task leaves among the first few due ones.
    for position, task in enumerate(order):
        assert etas.index(task) < position + 8


def test_max_concurrent_dispatches_holds_for_duplicates(client, worker):
    with Emulator(port=0, duplicate_deliveries=1.0, seed=3) as emu, client_for(emu.address) as c:
        name = f"{PARENT}/queues/narrow"
        c.create_queue(
            parent=PARENT, queue={"name": name, "rate_limits": {"max_concurrent_dispatches": 2}}
        )
        worker.behave(lambda r: Reply(hold=0.05))
        c.pause_queue(name=name)
        for i in range(6):
            c.create_task(parent=name, task=http_task(worker.url + f"/{i}"))
        c.resume_queue(name=name)
        _quiet(emu, 12)
    assert worker.max_active == 2


def test_a_run_task_success_can_be_duplicated_too(client, queue, worker, emulator):
    client.pause_queue(name=queue)
    task = client.create_task(parent=queue, task=http_task(worker.url + "/run"))
    emulator.duplicate_next(1)
    client.run_task(name=task.name)
    deliveries = _quiet(emulator, 2)
    assert [d.duplicate for d in deliveries] == [False, True]


def test_pending_duplicates_are_cleared_with_the_faults(client, queue, worker, emulator):
    emulator.duplicate_next(3)
    emulator.clear_faults()
    client.create_task(parent=queue, task=http_task(worker.url + "/once"))
    _quiet(emulator, 1)
    assert [d.duplicate for d in emulator.deliveries()] == [False]


def test_a_duplicate_is_logged_as_such(client, queue, worker, emulator):
    with structlog.testing.capture_logs() as logs:
        emulator.duplicate_next(1)
        client.create_task(parent=queue, task=http_task(worker.url + "/logged", b"secret-77"))
        _quiet(emulator, 2)
    fates = [e["fate"] for e in logs if e["event"] == "tasks.emulator.delivery"]
    assert fates == ["done", "duplicate"]
    assert "secret-77" not in repr(logs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duplicate_deliveries": 1.5}, "from 0 to 1"),
        ({"duplicate_deliveries": -0.1}, "from 0 to 1"),
        ({"duplicate_deliveries": float("nan")}, "from 0 to 1"),
        ({"duplicate_deliveries": True}, "from 0 to 1"),
        ({"duplicate_deliveries": "0.5"}, "from 0 to 1"),
        ({"seed": "7"}, "seed"),
        ({"port": 70000}, "0 to 65535"),
        ({"port": -1}, "0 to 65535"),
    ],
)
def test_emulator_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Emulator(**kwargs)


@pytest.mark.parametrize("n", [0, -1, True, 1.0])
def test_duplicate_next_takes_a_positive_int(emulator, n):
    with pytest.raises(ValueError, match="positive int"):
        emulator.duplicate_next(n)


def test_the_rate_is_readable(emulator):
    assert emulator.duplicate_deliveries == 0.0
    assert Emulator(duplicate_deliveries=0.5).duplicate_deliveries == 0.5


def test_wait_idle_names_what_is_left(client, queue, emulator):
    client.pause_queue(name=queue)
    client.create_task(
        parent=queue, task={"name": f"{queue}/tasks/held", **http_task("http://127.0.0.1:9/")}
    )
    with pytest.raises(TimeoutError, match=r"1 task.*held"):
        emulator.wait_idle(timeout=0.05)
    client.purge_queue(name=queue)
    emulator.wait_idle(timeout=5)
