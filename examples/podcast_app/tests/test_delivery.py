"""Tasks delivered for real: the emulator calls the app that ``task_worker`` serves.

``task_worker`` serves the app (``task_worker_app`` in conftest.py) on a free loopback port
and sets ``TASKS_BASE_URL``; ``cloud_tasks_emulator`` sets the other ``TASKS_*`` variables.
Nothing is mocked: the API call, the Cloud Tasks RPCs, the deliveries, their OIDC tokens.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from dispatch.emulator import Delivery, Emulator
from dispatch.testing import TaskWorker

EPISODE = {"title": "Delivered", "audio_url": "https://media.example/ep3.mp3"}


def path_of(delivery: Delivery) -> str:
    return urlsplit(delivery.url).path


def test_a_published_episode_is_transcribed_then_assembled(
    task_worker: TaskWorker, cloud_tasks_emulator: Emulator
) -> None:
    response = httpx.post(
        f"{task_worker.url}/api/episodes",
        json=EPISODE,
        headers={"Idempotency-Key": "delivered-1"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    episode_id = response.json()["episode"]["id"]

    # The transcription task, then the assembly task it enqueues; each handler has run
    # (and committed) before its delivery is recorded.
    done = cloud_tasks_emulator.wait_for_deliveries(2, timeout=30, where=lambda d: d.status == 200)

    assert [path_of(d) for d in done] == ["/api/tasks/transcribe", "/api/tasks/assemble"]
    episode = httpx.get(f"{task_worker.url}/api/episodes/{episode_id}", timeout=30).json()
    assert episode["status"] == "assembled"
    assert episode["transcript"].startswith(EPISODE["title"])
    # Every delivery carried a token the app accepted: no 401 anywhere.
    assert all(d.status != 401 for d in cloud_tasks_emulator.deliveries())


def test_a_request_without_the_queue_token_is_refused_by_the_served_app(
    task_worker: TaskWorker, cloud_tasks_emulator: Emulator
) -> None:
    response = httpx.post(
        f"{task_worker.url}/api/tasks/transcribe", json={"episode_id": 1}, timeout=30
    )

    assert response.status_code == 401
    assert cloud_tasks_emulator.deliveries() == []
    assert [(r.path, r.status) for r in task_worker.requests] == [("/api/tasks/transcribe", 401)]
