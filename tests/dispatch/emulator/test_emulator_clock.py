"""Calendar behaviour on a ManualClock: backoff, dedup and reuse windows, ETAs. No sleeps.

The emulator reads its wall clock from ``Emulator(clock=...)``; a test moves it with
``advance()`` and the emulator acts at once, so waits of seconds, hours or days take none.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from emulator_support import PARENT, QUEUE, Worker, client_for, http_task
from google.api_core import exceptions as gexc
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.cloud import tasks_v2
from google.protobuf import duration_pb2, timestamp_pb2

from dispatch.emulator import DEFAULT_DEDUP_WINDOW, Emulator, ManualClock

URL = "http://127.0.0.1:9/x"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked(worker: Worker, clock: ManualClock) -> Iterator[Emulator]:
    with Emulator(port=0, clock=clock, min_dispatch_deadline=0.2) as emu:
        yield emu


@pytest.fixture
def cclient(clocked: Emulator) -> Iterator[tasks_v2.CloudTasksClient]:
    with client_for(clocked.address) as c:
        yield c


def _poll(probe, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def _settled(client, name, attempts):
    """The task once ``attempts`` attempts were answered (GetTask polled, real time bounded)."""

    seen = []

    def probe():
        task = client.get_task(name=name)
        seen[:] = [task]
        if task.dispatch_count == attempts and task.response_count == attempts:
            return task
        return None

    try:
        return _poll(probe, f"attempt {attempts} of {name}")
    except AssertionError as exc:
        # Say where it stood: dispatched but unanswered, or never dispatched.
        last = seen[0] if seen else None
        state = (
            f"dispatch_count={last.dispatch_count} response_count={last.response_count} "
            f"first_attempt={last.first_attempt!r} last_attempt={last.last_attempt!r}"
            if last is not None
            else "never read"
        )
        raise AssertionError(f"{exc}; the task: {state}") from None


def _waits(client, clock, name, attempts):
    """Advance the clock through each retry; the wait the emulator gave after each attempt."""
    waits = []
    for n in range(1, attempts + 1):
        task = _settled(client, name, n)
        wait = task.schedule_time.timestamp() - task.last_attempt.response_time.timestamp()
        waits.append(round(wait, 6))
        if n < attempts:
            clock.advance(wait)
    return waits


def _queue(client, short, **retry):
    name = f"{PARENT}/queues/{short}"
    client.create_queue(parent=PARENT, queue={"name": name, "retry_config": retry})
    return name


def test_the_reference_backoff_example_takes_no_time(cclient, clock, worker):
    # RetryConfig docs: min 10 s, max 300 s, 3 doublings -> 10, 20, 40, 80, 160, 240, 300, 300.
    name = _queue(
        cclient,
        "reference",
        min_backoff=duration_pb2.Duration(seconds=10),
        max_backoff=duration_pb2.Duration(seconds=300),
        max_doublings=3,
        max_attempts=9,
    )
    worker.answer(then=503)
    task = cclient.create_task(parent=name, task=http_task(worker.url + "/ref"))
    started = time.monotonic()
    assert _waits(cclient, clock, task.name, 8) == [10, 20, 40, 80, 160, 240, 300, 300]
    assert time.monotonic() - started < 10  # 1,150 s of backoff, on the manual clock
    # Nothing is delivered before its time: one second short of the last wait, nothing.
    clock.advance(299)
    assert cclient.get_task(name=task.name).dispatch_count == 8
    clock.advance(1)
    _poll(lambda: len(worker.received) == 9, "the ninth attempt")


def test_max_doublings_0_through_an_update_mask_gives_linear_backoff(cclient, clock, worker):
    name = _queue(
        cclient,
        "linear",
        min_backoff=duration_pb2.Duration(seconds=2),
        max_backoff=duration_pb2.Duration(seconds=100),
        max_attempts=6,
    )
    assert cclient.get_queue(name=name).retry_config.max_doublings == 16  # the default
    updated = cclient.update_queue(
        queue={"name": name, "retry_config": {"max_doublings": 0}},
        update_mask={"paths": ["retry_config.max_doublings"]},
    )
    assert updated.retry_config.max_doublings == 0
    assert updated.retry_config.min_backoff.total_seconds() == 2  # the rest is kept
    # A later update that leaves retry_config alone keeps the 0.
    cclient.update_queue(
        queue={"name": name, "rate_limits": {"max_dispatches_per_second": 50}},
        update_mask={"paths": ["rate_limits.max_dispatches_per_second"]},
    )
    assert cclient.get_queue(name=name).retry_config.max_doublings == 0
    worker.answer(then=500)
    task = cclient.create_task(parent=name, task=http_task(worker.url + "/lin"))
    assert _waits(cclient, clock, task.name, 5) == [2, 4, 6, 8, 10]


def test_max_doublings_0_without_a_mask_naming_it_means_the_default(cclient):
    name = _queue(cclient, "unset", max_doublings=0)
    assert cclient.get_queue(name=name).retry_config.max_doublings == 16
    replaced = cclient.update_queue(
        queue={"name": name, "retry_config": {"max_attempts": 3}},
        update_mask={"paths": ["retry_config"]},
    )
    assert replaced.retry_config.max_doublings == 16


def test_update_queue_that_creates_the_queue_honours_a_named_zero(cclient):
    name = f"{PARENT}/queues/made-by-update"
    made = cclient.update_queue(
        queue={"name": name, "retry_config": {"max_doublings": 0}},
        update_mask={"paths": ["retry_config.max_doublings"]},
    )
    assert made.retry_config.max_doublings == 0


def test_a_task_name_is_reserved_for_24_hours_by_default(clocked, cclient, clock):
    assert DEFAULT_DEDUP_WINDOW == 24 * 3600
    cclient.create_queue(parent=PARENT, queue={"name": QUEUE})
    cclient.pause_queue(name=QUEUE)
    name = f"{QUEUE}/tasks/daily-report"
    cclient.create_task(parent=QUEUE, task={"name": name, **http_task(URL)})
    cclient.delete_task(name=name)
    clock.advance(24 * 3600 - 0.001)
    with pytest.raises(gexc.AlreadyExists):
        cclient.create_task(parent=QUEUE, task={"name": name, **http_task(URL)})
    with pytest.raises(gexc.NotFound, match="existed recently"):
        cclient.get_task(name=name)
    clock.advance(0.001)
    assert cclient.create_task(parent=QUEUE, task={"name": name, **http_task(URL)}).name == name


def test_the_dedup_window_is_configurable_and_counts_from_the_end_of_the_task(worker, clock):
    with (
        Emulator(port=0, queues=[QUEUE], dedup_window=60, clock=clock) as emu,
        client_for(emu.address) as client,
    ):
        name = f"{QUEUE}/tasks/ran"
        client.create_task(parent=QUEUE, task={"name": name, **http_task(worker.url + "/r")})
        emu.wait_for_deliveries(1)
        _poll(lambda: emu.tasks() == [], "the task to complete")
        clock.advance(59)
        with pytest.raises(gexc.AlreadyExists):
            client.create_task(parent=QUEUE, task={"name": name, **http_task(worker.url + "/r")})
        clock.advance(1)
        client.create_task(parent=QUEUE, task={"name": name, **http_task(worker.url + "/r")})
        assert len(emu.wait_for_deliveries(2)) == 2


def test_a_deleted_queue_name_is_reusable_after_7_days(cclient, clock):
    name = f"{PARENT}/queues/weekly"
    cclient.create_queue(parent=PARENT, queue={"name": name})
    cclient.delete_queue(name=name)
    clock.advance(7 * 24 * 3600 - 1)
    with pytest.raises(gexc.FailedPrecondition, match="too recently"):
        cclient.create_queue(parent=PARENT, queue={"name": name})
    clock.advance(1)
    assert cclient.create_queue(parent=PARENT, queue={"name": name}).name == name


def test_a_task_scheduled_for_later_leaves_when_the_clock_gets_there(
    clocked, cclient, clock, worker
):
    cclient.create_queue(parent=PARENT, queue={"name": QUEUE})
    when = timestamp_pb2.Timestamp()
    when.FromNanoseconds(int((clock.time() + 3 * 3600) * 1e9))
    task = cclient.create_task(
        parent=QUEUE, task={**http_task(worker.url + "/later"), "schedule_time": when}
    )
    assert task.create_time.timestamp() == int(clock.time())
    clock.advance(3 * 3600 - 1)
    assert cclient.get_task(name=task.name).dispatch_count == 0
    assert worker.received == []
    clock.advance(1)
    (got,) = clocked.wait_for_deliveries(1)
    assert got.dispatched_at >= task.schedule_time.timestamp()
    assert float(got.headers["X-CloudTasks-TaskETA"]) == pytest.approx(
        task.schedule_time.timestamp(), abs=1e-6
    )


def test_create_and_attempt_times_come_from_the_clock(clocked, cclient, clock, worker):
    clock.advance(1000.25)
    cclient.create_queue(parent=PARENT, queue={"name": QUEUE})
    worker.answer(500)
    task = cclient.create_task(parent=QUEUE, task=http_task(worker.url + "/t"))
    assert task.create_time.timestamp() == int(clock.time())
    settled = _settled(cclient, task.name, 1)
    assert settled.last_attempt.dispatch_time.timestamp() == pytest.approx(clock.time(), abs=1e-6)
    assert settled.first_attempt.dispatch_time.timestamp() == pytest.approx(clock.time(), abs=1e-6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ManualClock(float("nan")), "finite"),
        (lambda: ManualClock("now"), "finite"),
        (lambda: ManualClock().advance(-1), "forward"),
        (lambda: ManualClock().advance(float("inf")), "finite"),
        (lambda: Emulator(clock=time.time), "lacks"),
    ],
)
def test_clock_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_manual_clock_moves_only_when_told():
    clock = ManualClock(100.0)
    assert clock.time() == 100.0
    assert clock.advance(2.5) == 102.5
    assert clock.time() == 102.5
    seen = []
    unsubscribe = clock.subscribe(lambda: seen.append(clock.time()))
    clock.advance(1)
    unsubscribe()
    clock.advance(1)
    assert seen == [103.5]
    assert repr(clock) == "ManualClock(104.5)"


def test_rate_limits_run_on_real_time_under_a_manual_clock(cclient, clocked, worker):
    # Regression: a queue out of tokens waited for the manual clock to move (forever), not
    # for the token bucket, which refills in real time.
    name = f"{PARENT}/queues/rated"
    cclient.create_queue(
        parent=PARENT, queue={"name": name, "rate_limits": {"max_dispatches_per_second": 20}}
    )
    cclient.pause_queue(name=name)
    for i in range(26):
        cclient.create_task(parent=name, task=http_task(worker.url + f"/{i}"))
    cclient.resume_queue(name=name)  # a burst of 20, then 6 more as tokens come back
    got = clocked.wait_for_deliveries(26, timeout=10)
    assert len({d.task for d in got}) == 26


# A time whose microsecond truncation, read back as seconds, came out one float step later
# than the time itself (about one start time in 170): a task created "now" was due after
# "now", so under a ManualClock it waited forever for the clock to move.
_TRUNCATES_UP = 1796521762.6376579  # the start of the ManualClock in the failed run


def test_the_stored_time_is_never_later_than_the_time_it_stands_for():
    from dispatch.emulator._rules import ts_from, ts_seconds

    assert ts_seconds(ts_from(_TRUNCATES_UP)) <= _TRUNCATES_UP
    rng = random.Random(12)
    for _ in range(20_000):
        now = 1.7e9 + rng.random() * 1e8
        stored = ts_from(now)
        assert ts_seconds(stored) <= now, now
        assert now - ts_seconds(stored) < 1.000001e-6, now  # truncated, not cut further
        # The same seconds as the client's reading of the Timestamp.
        shown = DatetimeWithNanoseconds.from_timestamp_pb(stored).timestamp()
        assert ts_seconds(stored) == shown, now


def test_a_task_due_now_leaves_whatever_the_clock_reads(worker):
    clock = ManualClock(_TRUNCATES_UP)
    with (
        Emulator(port=0, queues=[QUEUE], clock=clock) as emu,
        client_for(emu.address) as client,
    ):
        client.create_task(parent=QUEUE, task=http_task(worker.url + "/now"))
        (got,) = emu.wait_for_deliveries(1, timeout=10)
        assert got.dispatched_at == _TRUNCATES_UP


def test_a_retry_leaves_when_the_clock_reaches_the_schedule_time_it_shows(cclient, clock, worker):
    # The ETA the emulator acts on is the schedule_time it reports, to the microsecond: a
    # client that moves the clock to exactly that time gets the retry.
    cclient.create_queue(
        parent=PARENT,
        queue={"name": QUEUE, "retry_config": {"min_backoff": {"seconds": 1, "nanos": 333}}},
    )
    clock.advance(0.1234567)
    worker.answer(then=500)
    task = cclient.create_task(parent=QUEUE, task=http_task(worker.url + "/retry"))
    for attempt in range(1, 4):
        settled = _settled(cclient, task.name, attempt)
        clock.advance(settled.schedule_time.timestamp() - clock.time())
        _poll(lambda n=attempt: len(worker.received) == n + 1, f"attempt {attempt + 1}")
