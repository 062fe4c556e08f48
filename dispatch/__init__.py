"""dispatch: the sanctioned path for background work on Google Cloud Tasks."""

from dispatch._enqueue import enqueue_http_task, enqueue_many
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
    "enqueue_many",
]
