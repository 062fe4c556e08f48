"""dispatch: the sanctioned path for background work on Google Cloud Tasks.

The public names are imported on first use. Importing ``dispatch.pytest_plugin`` (which
pytest does for every test run, through its entry point) runs this module first: it must
import nothing, or structlog and everything it pulls in would be loaded before the
taskguard plugin installs its guard.
"""

# Not ``from typing import TYPE_CHECKING``: this module imports nothing at all.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

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

_ERRORS = frozenset(
    {
        "BulkEnqueueError",
        "CloudTasksUnavailableError",
        "DispatchConfigError",
        "DispatchError",
        "DuplicateTaskError",
        "TaskCreationError",
        "TaskHeadersError",
    }
)
_BULK = frozenset({"enqueue_many", "enqueue_many_async"})


def __getattr__(name: str) -> object:
    # Plain imports, not importlib with a computed name: `taskguard check` can see them.
    source: ModuleType
    if name == "enqueue_http_task":
        from dispatch import _enqueue

        source = _enqueue
    elif name == "enqueue_http_task_async":
        from dispatch import _enqueue_async

        source = _enqueue_async
    elif name in _BULK:
        from dispatch import _bulk

        source = _bulk
    elif name in _ERRORS:
        from dispatch import _errors

        source = _errors
    elif name == "DispatchSettings":
        from dispatch import _settings

        source = _settings
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value: object = getattr(source, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
