"""Fault injection: the next N calls fail with a status, or answer late."""

from __future__ import annotations

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
