"""Test helpers: record tasks instead of sending them.

    from dispatch.testing import capture_tasks

    with capture_tasks() as tasks:
        publish_episode(42)
    assert tasks.paths() == ["/tasks/transcribe"]
    assert tasks[0].payload == {"episode_id": 42}

In pytest, the ``enqueued_tasks`` fixture does the same for the whole test.
"""

from dispatch._capture import CapturedTask, TaskCapture, capture_tasks

__all__ = ["CapturedTask", "TaskCapture", "capture_tasks"]
