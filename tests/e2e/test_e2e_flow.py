"""An episode goes through the API, dispatch, the emulator and the worker, and back."""

from __future__ import annotations

import uuid

import grpc
import httpx
from e2e_support import (
    Stack,
    deliveries_of,
    emulator_deliveries,
    publish,
    task_id_of,
    wait_delivered,
    wait_for_status,
)
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from examples._stack import QUEUE, SERVICE_ACCOUNT, wait_until


def test_a_published_episode_is_transcribed_and_assembled_by_tasks(stack: Stack) -> None:
    response = publish(stack.service)

    assert response.status_code == 202
    transcribe_task = response.json()["task"]["name"]
    assert transcribe_task.startswith(QUEUE + "/tasks/")
    episode_id = response.json()["episode"]["id"]
    done = wait_for_status(stack.service, episode_id, "assembled")
    assert done["transcript"].startswith(response.json()["episode"]["title"])
    assert done["chapters"] >= 1

    # Both tasks went through dispatch, which logged their creation.
    created = [
        event
        for event in stack.service.events()
        if event.get("event") == "tasks.enqueue_http_task.created"
    ]
    assemble_task = next(
        event["assemble_task"]
        for event in stack.service.events()
        if event.get("event") == "worker.transcribe.done"
        and event.get("task", "").endswith(task_id_of(transcribe_task))
    )
    assert {transcribe_task, assemble_task} <= {event["task_name"] for event in created}
    # ... and the emulator delivered each to its endpoint, finally with a 2xx.
    for task, path in (
        (transcribe_task, "/api/tasks/transcribe"),
        (assemble_task, "/api/tasks/assemble"),
    ):
        attempts = wait_delivered(stack.emulator.proc, task_id_of(task))
        assert {a["target"] for a in attempts} == {stack.service.base_url + path}
        assert attempts[-1]["status"] == "200"


def test_a_worker_that_fails_once_is_retried_and_succeeds(stack: Stack) -> None:
    response = publish(stack.service)
    episode_id = response.json()["episode"]["id"]
    task_id = task_id_of(response.json()["task"]["name"])

    done = wait_for_status(stack.service, episode_id, "assembled")

    transcribe = [
        (a["retry_count"], a["outcome"]) for a in done["attempts"] if a["kind"] == "transcribe"
    ]
    assert transcribe == [(0, "failed"), (1, "done")]
    seen_by_emulator = [
        (d["retry_count"], d["status"]) for d in wait_delivered(stack.emulator.proc, task_id)
    ]
    assert seen_by_emulator == [("0", "503"), ("1", "200")]


def test_the_same_idempotency_key_creates_one_task(stack: Stack) -> None:
    key = f"upload-{uuid.uuid4().hex}"

    first = publish(stack.service, key=key)
    second = publish(stack.service, key=key)

    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["episode"]["id"] == second.json()["episode"]["id"]
    assert first.json()["task"]["created"] is True
    # The emulator refused the second task: its name was taken (ALREADY_EXISTS).
    assert second.json()["task"] == {"name": first.json()["task"]["name"], "created": False}
    done = wait_for_status(stack.service, first.json()["episode"]["id"], "assembled")
    assert len({a["task_name"] for a in done["attempts"] if a["kind"] == "transcribe"}) == 1
    duplicates = [
        event
        for event in stack.service.events()
        if event.get("event") == "tasks.enqueue_http_task.duplicate"
        and event.get("task_name") == first.json()["task"]["name"]
    ]
    assert len(duplicates) == 1


def _emulator_client(address: str) -> tuple[tasks_v2.CloudTasksClient, grpc.Channel]:
    channel = grpc.insecure_channel(address)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel)), channel


def test_the_worker_accepts_the_emulator_token_and_rejects_others(stack: Stack) -> None:
    # Accepted: every delivery of a finished flow carried the emulator's token.
    response = publish(stack.service)
    wait_for_status(stack.service, response.json()["episode"]["id"], "assembled")
    statuses = {d["status"] for d in emulator_deliveries(stack.emulator.proc)}
    assert "401" not in statuses

    # Rejected: no token, or something that is not a token signed for us.
    url = stack.service.base_url + "/api/tasks/transcribe"
    for headers in ({}, {"Authorization": "Bearer not.a.token"}):
        rejected = httpx.post(url, json={"episode_id": 1}, headers=headers, timeout=10)
        assert rejected.status_code == 401

    # Rejected: a real emulator token, but for another audience or service account.
    client, channel = _emulator_client(stack.emulator.address)
    try:
        for email, audience in (
            (SERVICE_ACCOUNT, "https://someone-else.example"),
            ("intruder@elsewhere.iam.gserviceaccount.com", stack.service.base_url),
        ):
            task = client.create_task(
                parent=QUEUE,
                task=tasks_v2.Task(
                    http_request=tasks_v2.HttpRequest(
                        url=url,
                        http_method=tasks_v2.HttpMethod.POST,
                        body=b'{"episode_id": 1}',
                        oidc_token=tasks_v2.OidcToken(
                            service_account_email=email, audience=audience
                        ),
                    )
                ),
            )
            attempt = wait_until(
                lambda task=task: next(
                    iter(deliveries_of(stack.emulator.proc, task_id_of(task.name))), None
                ),
                timeout=30,
                what="the emulator to deliver the task",
            )
            client.delete_task(name=task.name)
            assert attempt["status"] == "401"
    finally:
        channel.close()

    # Neither process ever logged a token.
    for log in (stack.service.proc.stderr(), stack.emulator.proc.stderr()):
        assert "Bearer " not in log
        assert "eyJ" not in log
