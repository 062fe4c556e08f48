"""Fault injection: the next N calls fail with a status, or answer late."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from emulator_support import http_task
from google.api_core import exceptions as gexc

URL = "http://127.0.0.1:9/x"


@pytest.fixture
def paused(client, queue):
    client.pause_queue(name=queue)
    return queue


def test_the_next_n_create_task_calls_fail_and_create_nothing(client, paused, emulator):
    emulator.fail_next(2)
    for _ in range(2):
        with pytest.raises(gexc.ServiceUnavailable, match="injected UNAVAILABLE"):
            client.create_task(parent=paused, task=http_task(URL))
    assert list(client.list_tasks(parent=paused)) == []
    client.create_task(parent=paused, task=http_task(URL))
    assert len(list(client.list_tasks(parent=paused))) == 1


def test_a_failure_after_commit_leaves_the_task_created(client, paused, emulator):
    name = f"{paused}/tasks/lost-response"
    emulator.fail_next(1, grpc.StatusCode.DEADLINE_EXCEEDED, after_commit=True)
    with pytest.raises(gexc.DeadlineExceeded, match="after CreateTask took effect"):
        client.create_task(parent=paused, task={"name": name, **http_task(URL)})
    assert client.get_task(name=name).name == name
    with pytest.raises(gexc.AlreadyExists):
        client.create_task(parent=paused, task={"name": name, **http_task(URL)})


def test_a_delayed_call_still_takes_effect_after_the_client_gave_up(client, paused, emulator):
    name = f"{paused}/tasks/late"
    emulator.delay_next(1, 0.5)
    with pytest.raises(gexc.DeadlineExceeded):
        client.create_task(parent=paused, task={"name": name, **http_task(URL)}, timeout=0.1)
    deadline = time.monotonic() + 5
    while True:
        try:
            assert client.get_task(name=name).name == name
            break
        except gexc.NotFound:
            assert time.monotonic() < deadline, "the delayed CreateTask never took effect"
            time.sleep(0.02)


def test_faults_target_one_method_and_compose(client, paused, emulator):
    emulator.fail_next(1, grpc.StatusCode.PERMISSION_DENIED, method="GetQueue")
    client.create_task(parent=paused, task=http_task(URL))  # CreateTask is not affected
    with pytest.raises(gexc.PermissionDenied):
        client.get_queue(name=paused)
    assert client.get_queue(name=paused).name == paused
    emulator.delay_next(1, 0.05, method="ListTasks")
    emulator.fail_next(1, grpc.StatusCode.RESOURCE_EXHAUSTED, method="ListTasks")
    with pytest.raises(gexc.ResourceExhausted):
        list(client.list_tasks(parent=paused))
    assert len(list(client.list_tasks(parent=paused))) == 1


def test_pending_faults_can_be_cleared(client, paused, emulator):
    emulator.fail_next(5)
    emulator.clear_faults()
    client.create_task(parent=paused, task=http_task(URL))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.fail_next(1, method="CreateTasks"), "unknown method"),
        (lambda e: e.fail_next(0), "positive"),
        (lambda e: e.fail_next(1, grpc.StatusCode.OK), "other than OK"),
        (lambda e: e.fail_next(1, 14), "StatusCode"),
        (lambda e: e.delay_next(1, -1), "negative"),
        (lambda e: e.delay_next(1, float("nan")), "negative"),
        (lambda e: e.delay_next(1, float("inf")), "negative"),
        (lambda e: e.delay_next(1, "1"), "negative"),
        (lambda e: e.fail_next(True), "positive"),
        (lambda e: e.delay_next(True, 0.1), "positive"),
        (lambda e: e.delay_next(1, 1, method="GetIamPolicy"), "unknown method"),
    ],
)
def test_fault_arguments_are_checked(emulator, call, message):
    with pytest.raises(ValueError, match=message):
        call(emulator)


# --- the calls it serves: a public hook instead of sleeping --------------------------------


def _wait_received(emulator, method, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while emulator.rpcs_received(method) < count:
        assert time.monotonic() < deadline, f"{count} {method} call(s) never arrived"
        time.sleep(0.005)


def test_calls_are_counted_on_arrival_and_while_held(client, paused, emulator):
    before = emulator.rpcs_received()
    assert emulator.rpcs_in_flight() == 0
    emulator.delay_next(1, 30.0)  # held until the emulator stops or the hold ends
    name = f"{paused}/tasks/held"
    with pytest.raises(gexc.DeadlineExceeded):
        client.create_task(parent=paused, task={"name": name, **http_task(URL)}, timeout=0.2)
    # The client gave up; the call is still on the server, held, and counted there.
    _wait_received(emulator, "CreateTask", 1)
    assert emulator.rpcs_in_flight("CreateTask") == 1
    assert emulator.rpcs_in_flight() == 1
    assert emulator.rpcs_in_flight("GetTask") == 0
    assert emulator.rpcs_received("CreateTask") == 1
    assert emulator.rpcs_received() == before + 1
    with pytest.raises(TimeoutError, match=r"calls still being served after 0.2s: CreateTask x1"):
        emulator.wait_rpcs_idle(timeout=0.2)


def test_wait_rpcs_idle_returns_once_a_held_call_has_landed(client, paused, emulator):
    emulator.delay_next(1, 0.5)
    name = f"{paused}/tasks/late-idle"
    with pytest.raises(gexc.DeadlineExceeded):
        client.create_task(parent=paused, task={"name": name, **http_task(URL)}, timeout=0.1)
    _wait_received(emulator, "CreateTask", 1)  # on a loaded machine it may start late
    emulator.wait_rpcs_idle(timeout=10)
    # Nothing more is being served: the late call has taken effect, no poll needed.
    assert emulator.rpcs_in_flight() == 0
    assert client.get_task(name=name).name == name


def test_failed_and_unknown_calls_are_answered_and_released(client, paused, emulator):
    emulator.fail_next(2, grpc.StatusCode.PERMISSION_DENIED, method="GetQueue")
    for _ in range(2):
        with pytest.raises(gexc.PermissionDenied):
            client.get_queue(name=paused)
    with pytest.raises(gexc.NotFound):
        client.get_task(name=f"{paused}/tasks/none")
    assert emulator.rpcs_received("GetQueue") == 2
    assert emulator.rpcs_received("GetTask") == 1
    assert emulator.rpcs_in_flight() == 0
    emulator.wait_rpcs_idle(timeout=0)  # idle already: returns at once


def test_wait_rpcs_idle_wakes_when_the_last_call_ends(client, paused, emulator):
    emulator.delay_next(3, 0.3, method="GetQueue")
    threads = [threading.Thread(target=client.get_queue, kwargs={"name": paused}) for _ in range(3)]
    for thread in threads:
        thread.start()
    _wait_received(emulator, "GetQueue", 3)
    assert emulator.rpcs_in_flight("GetQueue") >= 1  # each is held 0.3 s from its arrival
    emulator.wait_rpcs_idle(timeout=10)
    assert emulator.rpcs_in_flight() == 0
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), "1", True, None])
def test_wait_rpcs_idle_refuses_a_bad_timeout(emulator, timeout):
    with pytest.raises(ValueError, match="timeout must be a finite number"):
        emulator.wait_rpcs_idle(timeout=timeout)


def test_the_rpc_counters_refuse_an_unknown_method(emulator):
    for probe in (emulator.rpcs_received, emulator.rpcs_in_flight):
        with pytest.raises(ValueError, match="unknown method 'CreateTasks'"):
            probe("CreateTasks")
