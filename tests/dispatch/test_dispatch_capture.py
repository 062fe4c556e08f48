"""dispatch.testing.capture_tasks() and the enqueued_tasks fixture."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from dispatch_support import QUEUE_PATH, make_settings

from dispatch import DispatchConfigError, DispatchSettings, DuplicateTaskError, enqueue_http_task
from dispatch.testing import CapturedTask, capture_tasks

DRY = DispatchSettings(dry_run=True)


def test_capture_records_what_would_be_sent_and_returns_its_name() -> None:
    settings = make_settings(service_account_email="tasks@p.iam.gserviceaccount.com")
    with capture_tasks() as tasks:
        name = enqueue_http_task(
            "/tasks/transcribe",
            {"episode_id": 42},
            task_id="episode-42",
            dispatch_deadline=60,
            headers={"X-Request-Id": "r1"},
            settings=settings,
        )
    assert name == f"{QUEUE_PATH}/tasks/episode-42"
    assert list(tasks) == [
        CapturedTask(
            name=name,
            queue="default",
            task_id="episode-42",
            path="/tasks/transcribe",
            url="https://worker.example.com/tasks/transcribe",
            body=b'{"episode_id":42}',
            headers={"Content-Type": "application/json", "X-Request-Id": "r1"},
            dispatch_deadline=timedelta(seconds=60),
            oidc_service_account_email="tasks@p.iam.gserviceaccount.com",
            oidc_audience="https://worker.example.com",
        )
    ]
    assert tasks[0].payload == {"episode_id": 42}


def test_capture_wins_over_dry_run_and_needs_no_config() -> None:
    with capture_tasks() as tasks:
        name = enqueue_http_task("/tasks/x", {"a": 1}, settings=DRY)
    assert tasks.paths() == ["/tasks/x"]
    assert name == tasks[0].name
    assert name.startswith("projects/capture/locations/capture/queues/capture/tasks/")
    assert tasks[0].url == "/tasks/x"


def test_payload_is_a_snapshot_taken_at_enqueue_time() -> None:
    payload = {"items": [1]}
    with capture_tasks() as tasks:
        enqueue_http_task("/tasks/x", payload, settings=make_settings())
    payload["items"].append(2)
    assert tasks[0].payload == {"items": [1]}
    tasks[0].payload["items"].append(3)
    assert tasks[0].payload == {"items": [1]}


def test_validation_still_runs_and_records_nothing() -> None:
    with capture_tasks() as tasks:
        with pytest.raises(DispatchConfigError):
            enqueue_http_task("//evil.example.com/x", settings=make_settings())
        with pytest.raises(DispatchConfigError):
            enqueue_http_task("/tasks/x", object(), settings=make_settings())
    assert len(tasks) == 0


def test_a_reused_task_id_is_a_duplicate_as_in_cloud_tasks() -> None:
    with capture_tasks() as tasks:
        enqueue_http_task("/tasks/x", task_id="once", settings=make_settings())
        with pytest.raises(DuplicateTaskError) as info:
            enqueue_http_task("/tasks/y", task_id="once", settings=make_settings())
    assert info.value.task_name == f"{QUEUE_PATH}/tasks/once"
    assert tasks.paths() == ["/tasks/x"]
    tasks.clear()
    assert len(tasks) == 0


def test_nested_captures_record_into_the_innermost_only() -> None:
    with capture_tasks() as outer:
        enqueue_http_task("/outer/1", settings=DRY)
        with capture_tasks() as inner:
            enqueue_http_task("/inner", settings=DRY)
        enqueue_http_task("/outer/2", settings=DRY)
    assert outer.paths() == ["/outer/1", "/outer/2"]
    assert inner.paths() == ["/inner"]


def test_tasks_enqueued_from_other_threads_are_captured() -> None:
    with capture_tasks() as tasks:
        threads = [
            threading.Thread(
                target=lambda i=i: [  # type: ignore[misc]
                    enqueue_http_task(f"/t/{i}/{j}", settings=DRY) for j in range(50)
                ]
            )
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(tasks) == 200
    assert len({task.name for task in tasks}) == 200
    assert len(tasks.for_path("/t/3/49")) == 1


def test_after_the_block_tasks_are_no_longer_captured() -> None:
    with capture_tasks() as tasks:
        pass
    assert enqueue_http_task("/tasks/x", settings=DRY).startswith("dry-run-")
    assert len(tasks) == 0


def test_enqueued_tasks_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_app="""
        import pytest
        from dispatch import DispatchConfigError, enqueue_http_task

        def publish(episode_id):
            return enqueue_http_task("/tasks/transcribe", {"episode_id": episode_id})

        def test_publish_enqueues(enqueued_tasks):
            publish(7)
            publish(8)
            assert enqueued_tasks.paths() == ["/tasks/transcribe", "/tasks/transcribe"]
            assert [t.payload for t in enqueued_tasks] == [{"episode_id": 7}, {"episode_id": 8}]

        def test_validation_runs(enqueued_tasks):
            with pytest.raises(DispatchConfigError):
                enqueue_http_task("//evil.example.com/x")
            assert len(enqueued_tasks) == 0

        def test_each_test_starts_empty(enqueued_tasks):
            assert len(enqueued_tasks) == 0
            publish(1)
            assert len(enqueued_tasks) == 1
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=3)
