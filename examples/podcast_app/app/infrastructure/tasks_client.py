"""Task plumbing specific to this service: how tasks are named, and what a send returned.

The sanctioned module of the policy: the one place allowed to import google.cloud.tasks,
should the service ever need the raw client (an admin endpoint, say). Sending itself goes
through ``dispatch.enqueue_http_task``, which the services call.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# For async routes: awaiting Cloud Tasks without blocking the event loop.
from dispatch import enqueue_http_task_async

__all__ = ["TaskRef", "enqueue_http_task_async", "task_id_for"]


@dataclass(frozen=True)
class TaskRef:
    """A task the service asked for; ``created`` is False when it already existed."""

    name: str
    created: bool


def task_id_for(kind: str, key: str) -> str:
    """A deterministic task id: the same (kind, key) always names the same task.

    Cloud Tasks refuses a name it has seen recently, which turns a retried request into
    "already enqueued" instead of a second task. The hash comes first because ids that
    share a long prefix (sequential ids) are slow to create.
    """
    digest = hashlib.sha256(f"{kind}\0{key}".encode()).hexdigest()[:32]
    return f"{digest}-{kind}"
