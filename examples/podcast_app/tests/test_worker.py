"""Task endpoints: delivery headers, idempotency per task name, retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from dispatch.testing import TaskCapture
from fastapi.testclient import TestClient
from helpers import settings_for, task_headers, task_id_of

from app.main import create_app

EPISODE = {"title": "Retries", "audio_url": "https://media.example/ep2.mp3"}


def publish(client: TestClient, tasks: TaskCapture) -> tuple[int, str]:
    episode_id = client.post("/api/episodes", json=EPISODE).json()["episode"]["id"]
    return episode_id, task_id_of(tasks.for_path("/api/tasks/transcribe")[-1].name)


def test_transcribe_writes_the_transcript_and_enqueues_the_assembly(
    client: TestClient, enqueued_tasks: TaskCapture
) -> None:
    episode_id, task_id = publish(client, enqueued_tasks)

    response = client.post(
        "/api/tasks/transcribe", json={"episode_id": episode_id}, headers=task_headers(task_id)
    )

    assert response.status_code == 200
    assert response.json()["status"] == "done"
    episode = client.get(f"/api/episodes/{episode_id}").json()
    assert episode["status"] == "transcribed"
    assert episode["transcript"].startswith(EPISODE["title"])
    [assembly] = enqueued_tasks.for_path("/api/tasks/assemble")
    assert assembly.payload == {"episode_id": episode_id}


def test_a_redelivered_task_changes_nothing(
    client: TestClient, enqueued_tasks: TaskCapture
) -> None:
    episode_id, task_id = publish(client, enqueued_tasks)
    body = {"episode_id": episode_id}

    first = client.post("/api/tasks/transcribe", json=body, headers=task_headers(task_id))
    again = client.post("/api/tasks/transcribe", json=body, headers=task_headers(task_id, retry=1))

    assert (first.json()["status"], again.json()["status"]) == ("done", "duplicate")
    # The redelivery asks for its successor again; the derived task id keeps it one task.
    assert len(enqueued_tasks.for_path("/api/tasks/assemble")) == 1
    outcomes = [a["outcome"] for a in client.get(f"/api/episodes/{episode_id}").json()["attempts"]]
    assert outcomes == ["done", "duplicate"]


def test_a_failing_engine_answers_503_and_the_retry_succeeds(
    tmp_path: Path, enqueued_tasks: TaskCapture
) -> None:
    app = create_app(settings_for(tmp_path, flaky_transcribe=True))
    with TestClient(app) as client:
        episode_id, task_id = publish(client, enqueued_tasks)
        body = {"episode_id": episode_id}

        failed = client.post("/api/tasks/transcribe", json=body, headers=task_headers(task_id))
        retried = client.post(
            "/api/tasks/transcribe", json=body, headers=task_headers(task_id, retry=1)
        )

        assert (failed.status_code, retried.status_code) == (503, 200)
        episode = client.get(f"/api/episodes/{episode_id}").json()
    assert [(a["retry_count"], a["outcome"]) for a in episode["attempts"]] == [
        (0, "failed"),
        (1, "done"),
    ]
    assert episode["status"] == "transcribed"


def test_assemble_waits_for_the_transcript_then_assembles(
    client: TestClient, enqueued_tasks: TaskCapture
) -> None:
    episode_id, transcribe_id = publish(client, enqueued_tasks)
    body = {"episode_id": episode_id}

    early = client.post("/api/tasks/assemble", json=body, headers=task_headers("early"))
    client.post("/api/tasks/transcribe", json=body, headers=task_headers(transcribe_id))
    assemble_id = task_id_of(enqueued_tasks.for_path("/api/tasks/assemble")[0].name)
    done = client.post("/api/tasks/assemble", json=body, headers=task_headers(assemble_id))

    assert (early.status_code, done.status_code) == (409, 200)
    episode = client.get(f"/api/episodes/{episode_id}").json()
    assert episode["status"] == "assembled"
    assert episode["chapters"] >= 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-CloudTasks-QueueName": "podcast"},
        {**task_headers("t"), "X-CloudTasks-TaskRetryCount": "-1"},
    ],
    ids=["none", "partial", "malformed"],
)
def test_a_request_without_valid_delivery_headers_is_refused(
    client: TestClient, enqueued_tasks: TaskCapture, headers: dict[str, str]
) -> None:
    episode_id, _ = publish(client, enqueued_tasks)
    body = {"episode_id": episode_id}

    response = client.post("/api/tasks/transcribe", json=body, headers=headers)

    assert response.status_code == 400
    assert client.get(f"/api/episodes/{episode_id}").json()["status"] == "transcribing"


def test_reassembly_on_request_is_one_task_per_key(
    client: TestClient, enqueued_tasks: TaskCapture
) -> None:
    episode_id, transcribe_id = publish(client, enqueued_tasks)
    body = {"episode_id": episode_id}
    client.post("/api/tasks/transcribe", json=body, headers=task_headers(transcribe_id))
    url = f"/api/episodes/{episode_id}/assemble"

    first = client.post(url, headers={"Idempotency-Key": "edit-1"})
    again = client.post(url, headers={"Idempotency-Key": "edit-1"})
    other = client.post(url, headers={"Idempotency-Key": "edit-2"})

    assert [r.status_code for r in (first, again, other)] == [202, 202, 202]
    assert [r.json()["task"]["created"] for r in (first, again, other)] == [True, False, True]
    # The one the transcription asked for, then one per key.
    assert len(enqueued_tasks.for_path("/api/tasks/assemble")) == 3
