"""The API enqueues through dispatch; enqueued_tasks records instead of sending."""

from __future__ import annotations

from dispatch.testing import TaskCapture
from fastapi.testclient import TestClient

EPISODE = {"title": "Queues, explained", "audio_url": "https://media.example/ep1.mp3"}


def test_publishing_enqueues_one_transcription(
    client: TestClient, enqueued_tasks: TaskCapture
) -> None:
    response = client.post("/api/episodes", json=EPISODE)

    assert response.status_code == 202
    episode = response.json()["episode"]
    assert episode["status"] == "transcribing"
    assert enqueued_tasks.paths() == ["/api/tasks/transcribe"]
    assert enqueued_tasks[0].payload == {"episode_id": episode["id"]}
    assert response.json()["task"] == {"name": enqueued_tasks[0].name, "created": True}


def test_same_idempotency_key_makes_one_episode_and_one_task(
    client: TestClient, enqueued_tasks: TaskCapture
) -> None:
    headers = {"Idempotency-Key": "upload-7"}
    first = client.post("/api/episodes", json=EPISODE, headers=headers)
    second = client.post("/api/episodes", json=EPISODE, headers=headers)

    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["episode"]["id"] == second.json()["episode"]["id"]
    assert len(enqueued_tasks) == 1
    assert second.json()["task"] == {"name": enqueued_tasks[0].name, "created": False}


def test_different_keys_make_different_tasks(
    client: TestClient, enqueued_tasks: TaskCapture
) -> None:
    client.post("/api/episodes", json=EPISODE, headers={"Idempotency-Key": "a"})
    client.post("/api/episodes", json=EPISODE, headers={"Idempotency-Key": "b"})

    assert len({task.task_id for task in enqueued_tasks}) == 2


def test_reused_key_with_another_body_is_a_conflict(
    client: TestClient, enqueued_tasks: TaskCapture
) -> None:
    client.post("/api/episodes", json=EPISODE, headers={"Idempotency-Key": "k"})
    other = {**EPISODE, "title": "Something else"}

    response = client.post("/api/episodes", json=other, headers={"Idempotency-Key": "k"})

    assert response.status_code == 409
    assert len(enqueued_tasks) == 1


def test_reassembly_needs_a_transcript(client: TestClient, enqueued_tasks: TaskCapture) -> None:
    episode_id = client.post("/api/episodes", json=EPISODE).json()["episode"]["id"]

    assert client.post(f"/api/episodes/{episode_id}/assemble").status_code == 409
    assert client.post("/api/episodes/999/assemble").status_code == 404
    assert enqueued_tasks.paths() == ["/api/tasks/transcribe"]


def test_unknown_episode_is_404(client: TestClient) -> None:
    assert client.get("/api/episodes/12345").status_code == 404
