"""The service's one door to task dispatch: how tasks are sent, named, and what came back.

Everything in ``app`` that sends a task calls ``enqueue_http_task`` from here; it is
``dispatch.enqueue_http_task`` itself, not a wrapper with a fallback of its own, so dry run
(``TASKS_DRY_RUN=true``), the emulator and every error behave exactly as documented.
This is also the sanctioned module of the policy: the one place allowed to import
google.cloud.tasks, should the service ever need the raw client (an admin endpoint, say).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from dispatch import DispatchError, DuplicateTaskError, enqueue_http_task, enqueue_http_task_async

# The dispatch names are re-exported: the rest of the service imports them from here (async
# routes await enqueue_http_task_async, which does not block the event loop).
__all__ = [
    "DispatchError",
    "DuplicateTaskError",
    "TaskRef",
    "enqueue_http_task",
    "enqueue_http_task_async",
    "task_id_for",
]


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
