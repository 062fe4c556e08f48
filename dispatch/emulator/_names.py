"""Resource names and the limits Cloud Tasks enforces on them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from dispatch.emulator._errors import invalid

# Formats from the Cloud Tasks v2 reference (Queue.name, Task.name).
_PROJECT = r"[A-Za-z0-9:.\-]+"
_LOCATION = r"[A-Za-z0-9\-]+"
_QUEUE_ID = r"[A-Za-z0-9\-]{1,100}"
TASK_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,500}")
_LOCATION_RE = re.compile(rf"projects/(?P<project>{_PROJECT})/locations/(?P<location>{_LOCATION})")
_QUEUE_RE = re.compile(
    rf"projects/(?P<project>{_PROJECT})/locations/(?P<location>{_LOCATION})"
    rf"/queues/(?P<queue>{_QUEUE_ID})"
)
_TASK_RE = re.compile(r"(?P<parent>projects/[^/]+/locations/[^/]+/queues/[^/]+)/tasks/(?P<task>.*)")

QUEUE_NAME_MESSAGE = (
    'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>'
    '/queues/<QUEUE_ID>".'
)
LOCATION_NAME_MESSAGE = 'Parent must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>".'
TASK_NAME_MESSAGE = (
    'Task name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>'
    '/queues/<QUEUE_ID>/tasks/<TASK_ID>".'
)


@dataclass(frozen=True)
class QueueName:
    project: str
    location: str
    queue: str

    @property
    def full(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/queues/{self.queue}"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"


@functools.lru_cache(maxsize=4096)
def parse_queue_name(name: str) -> QueueName:
    match = _QUEUE_RE.fullmatch(name)
    if match is None:
        raise invalid(QUEUE_NAME_MESSAGE)
    return QueueName(match["project"], match["location"], match["queue"])


def check_location(parent: str) -> str:
    if _LOCATION_RE.fullmatch(parent) is None:
        raise invalid(LOCATION_NAME_MESSAGE)
    return parent


def _short(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


def task_id_message(task_id: str) -> str:
    return (
        f'Task ID "{_short(task_id)}" can contain only letters ([A-Za-z]), numbers ([0-9]), '
        "hyphens (-), or underscores (_). Task ID must between 1 and 500 characters."
    )


def parse_task_name(name: str) -> tuple[QueueName, str]:
    """Split a full task name into its queue and task id; INVALID_ARGUMENT when malformed."""
    match = _TASK_RE.fullmatch(name)
    if match is None:
        raise invalid(TASK_NAME_MESSAGE)
    queue = parse_queue_name(match["parent"])
    task_id = match["task"]
    if TASK_ID_RE.fullmatch(task_id) is None:
        raise invalid(task_id_message(task_id))
    return queue, task_id


def check_task_name_for_create(name: str, parent: str) -> str:
    """The task id of a caller-named task, checked against the request's queue."""
    queue, task_id = parse_task_name(name)
    if queue.full != parent:
        raise invalid(
            f"The queue name from request ('{parent}') must be the same as the queue name "
            f"in the named task ('{queue.full}')."
        )
    return task_id
