"""Test helpers: record tasks instead of sending them.

    from dispatch.testing import capture_tasks

    with capture_tasks() as tasks:
        publish_episode(42)
    assert tasks.paths() == ["/tasks/transcribe"]
    assert tasks[0].payload == {"episode_id": 42}

In pytest, the ``enqueued_tasks`` fixture does the same for the whole test. The
``task_worker`` fixture yields a ``TaskWorker`` (the app under test served on loopback);
``ServedRequest`` is one entry of its ``requests``.
"""

from dispatch._capture import CapturedTask, TaskCapture, capture_tasks
from dispatch._task_worker import ServedRequest, TaskWorker

__all__ = ["CapturedTask", "ServedRequest", "TaskCapture", "TaskWorker", "capture_tasks"]
