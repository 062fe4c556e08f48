"""dispatch: the sanctioned path for background work on Google Cloud Tasks."""

from dispatch._bulk import enqueue_many, enqueue_many_async
from dispatch._enqueue import enqueue_http_task
from dispatch._enqueue_async import enqueue_http_task_async
from dispatch._errors import (
    BulkEnqueueError,
    CloudTasksUnavailableError,
    DispatchConfigError,
    DispatchError,
    DuplicateTaskError,
    TaskCreationError,
    TaskHeadersError,
)
from dispatch._settings import DispatchSettings

__all__ = [
    "BulkEnqueueError",
    "CloudTasksUnavailableError",
    "DispatchConfigError",
    "DispatchError",
    "DispatchSettings",
    "DuplicateTaskError",
    "TaskCreationError",
    "TaskHeadersError",
    "enqueue_http_task",
    "enqueue_http_task_async",
    "enqueue_many",
    "enqueue_many_async",
]
