"""The "published" webhook is a task too: retried when the subscriber fails, sent once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dispatch.testing import TaskCapture
from fastapi.testclient import TestClient
from helpers import Subscriber, settings_for, task_headers, task_id_of

from app.main import create_app

EPISODE = {"title": "Webhooks", "audio_url": "https://media.example/ep3.mp3"}


@pytest.fixture
def notifying(tmp_path: Path, subscriber: Subscriber) -> Iterator[TestClient]:
    app = create_app(settings_for(tmp_path, webhook_url=subscriber.url))
    with TestClient(app) as client:
        yield client


def assembled_episode(client: TestClient, tasks: TaskCapture) -> int:
    episode_id: int = client.post("/api/episodes", json=EPISODE).json()["episode"]["id"]
    body = {"episode_id": episode_id}
    for path in ("/api/tasks/transcribe", "/api/tasks/assemble"):
        task_id = task_id_of(tasks.for_path(path)[-1].name)
        assert client.post(path, json=body, headers=task_headers(task_id)).status_code == 200
    return episode_id


def test_assembly_enqueues_the_notification_and_the_task_posts_it(
    notifying: TestClient, enqueued_tasks: TaskCapture, subscriber: Subscriber
) -> None:
    episode_id = assembled_episode(notifying, enqueued_tasks)
    [notify] = enqueued_tasks.for_path("/api/tasks/notify")
    assert subscriber.events == []  # nothing is posted inline any more

    response = notifying.post(
        "/api/tasks/notify",
        json=notify.payload,
        headers=task_headers(task_id_of(notify.name)),
    )

    assert response.status_code == 200
    assert subscriber.events == [{"event": "episode.published", "episode_id": episode_id}]
    assert notifying.get(f"/api/episodes/{episode_id}").json()["status"] == "published"


def test_a_failing_subscriber_gets_the_event_again_on_retry_and_only_once(
    notifying: TestClient, enqueued_tasks: TaskCapture, subscriber: Subscriber
) -> None:
    assembled_episode(notifying, enqueued_tasks)
    [notify] = enqueued_tasks.for_path("/api/tasks/notify")
    task_id = task_id_of(notify.name)
    subscriber.statuses = [500]

    statuses = [
        notifying.post(
            "/api/tasks/notify", json=notify.payload, headers=task_headers(task_id, retry=retry)
        ).status_code
        for retry in range(3)
    ]

    assert statuses == [503, 200, 200]
    assert len(subscriber.events) == 2  # the failed attempt, then the accepted one
