"""Exceptions raised by dispatch.

Each error also subclasses the builtin callers already catch (a bad argument is a
``ValueError``, a missing optional dependency an ``ImportError``, a failed RPC a
``RuntimeError``), carries structured fields, and survives pickling: errors cross process
boundaries in pytest-xdist and in task runners, and ``enqueue_many`` ships them in bulk.
Messages never contain payload bodies, header values or tokens.
"""

from __future__ import annotations

from typing import Any

INSTALL_HINT = "install the Cloud Tasks client with: pip install 'cloud-tasks-guard[cloud]'"


class DispatchError(Exception):
    """Base class of every error dispatch raises."""


class DispatchConfigError(DispatchError, ValueError):
    """A setting or an argument is invalid; raised before any RPC is made.

    ``field`` names what is wrong: an environment variable (``TASKS_QUEUE``) or an
    argument of ``enqueue_http_task`` (``path``, ``task_id``, ...). A configuration error
    reports every problem of the configuration at once: ``problems`` holds one
    ``(field, message)`` pair per problem: the values set wrong, then the variables
    missing, each in the variables' order (``field`` is the first of them); ``missing``
    lists every variable to set.
    An error about one thing has that one pair in ``problems``.
    """

    def __init__(
        self,
        message: str,
        field: str | None = None,
        missing: tuple[str, ...] = (),
        problems: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.message = message
        self.field = field
        self.missing = tuple(missing)
        if not problems and field is not None:
            problems = ((field, message),)
        self.problems: tuple[tuple[str, str], ...] = tuple(
            (str(name), str(said)) for name, said in problems
        )
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.field, self.missing, self.problems))


class CloudTasksUnavailableError(DispatchError, ImportError):
    """google-cloud-tasks (or one of its dependencies) cannot be imported."""

    def __init__(self, message: str | None = None, missing: str | None = None) -> None:
        self.missing = missing
        if message is None:
            what = f" ({missing} is missing)" if missing else ""
            message = f"google-cloud-tasks is not importable{what}; {INSTALL_HINT}"
        self.message = message
        super().__init__(message, name=missing)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.missing))


class TaskCreationError(DispatchError, RuntimeError):
    """Cloud Tasks did not create the task.

    ``code`` is the gRPC status name of the last failure (``"UNAVAILABLE"``,
    ``"INVALID_ARGUMENT"``, ...) or ``None`` when no RPC answered. ``attempts`` counts the
    CreateTask calls made. ``outcome_unknown`` is true when the last attempt may have
    reached the service (a timeout or a dropped connection): the task named ``task_name``
    may then exist, and re-sending it with the same ``task_id`` is the safe way to find out.
    """

    def __init__(
        self,
        message: str,
        *,
        task_name: str | None = None,
        queue: str | None = None,
        code: str | None = None,
        attempts: int = 0,
        outcome_unknown: bool = False,
    ) -> None:
        self.message = message
        self.task_name = task_name
        self.queue = queue
        self.code = code
        self.attempts = attempts
        self.outcome_unknown = outcome_unknown
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def _fields(self) -> dict[str, Any]:
        return {
            "task_name": self.task_name,
            "queue": self.queue,
            "code": self.code,
            "attempts": self.attempts,
            "outcome_unknown": self.outcome_unknown,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields cannot travel through the default reduce: rebuild explicitly.
        return (_rebuild, (type(self), (self.message,), self._fields()))


class DuplicateTaskError(TaskCreationError):
    """A task with this name exists, or existed recently (Cloud Tasks answered ALREADY_EXISTS)."""

    def __init__(
        self,
        message: str | None = None,
        *,
        task_name: str | None = None,
        queue: str | None = None,
        code: str | None = "ALREADY_EXISTS",
        attempts: int = 1,
        outcome_unknown: bool = False,
    ) -> None:
        if message is None:
            message = f"task {task_name} already exists (or was created recently)"
        super().__init__(
            message,
            task_name=task_name,
            queue=queue,
            code=code,
            attempts=attempts,
            outcome_unknown=outcome_unknown,
        )


class BulkEnqueueError(TaskCreationError):
    """Some tasks of an ``enqueue_many`` call failed.

    ``names`` has one entry per item, in order: the task name, or ``None`` for an item that
    was not created. ``failures`` pairs each failed item's index with its error. When any
    item fails validation nothing is sent at all, so every name is ``None``.
    """

    def __init__(
        self,
        names: tuple[str | None, ...] | list[str | None],
        failures: tuple[tuple[int, DispatchError], ...] | list[tuple[int, DispatchError]],
        message: str | None = None,
    ) -> None:
        self.names: tuple[str | None, ...] = tuple(names)
        self.failures: tuple[tuple[int, DispatchError], ...] = tuple(failures)
        if message is None:
            message = self._render()
        super().__init__(message, attempts=0, code=None)

    @property
    def succeeded(self) -> dict[int, str]:
        """The created tasks, by item index."""
        return {i: name for i, name in enumerate(self.names) if name is not None}

    def _render(self) -> str:
        created = sum(1 for name in self.names if name is not None)
        lines = [f"{len(self.failures)} of {len(self.names)} tasks failed ({created} created):"]
        # Consecutive items that failed the same way share a line: a missing setting fails
        # every item, and a thousand copies of its message would bury everything else.
        runs: list[tuple[int, int, str]] = []
        for index, error in self.failures:
            said = f"{type(error).__name__}: {error}"
            if runs and runs[-1][1] == index - 1 and runs[-1][2] == said:
                runs[-1] = (runs[-1][0], index, said)
            else:
                runs.append((index, index, said))
        lines.extend(
            f"  item {first}: {said}" if first == last else f"  items {first}-{last}: {said}"
            for first, last, said in runs
        )
        return "\n".join(lines)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.names, self.failures, self.message))


class TaskHeadersError(DispatchError, ValueError):
    """A task delivery's ``X-CloudTasks-*`` headers are missing or malformed."""

    def __init__(self, message: str, header: str | None = None) -> None:
        self.message = message
        self.header = header
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.header))


def _rebuild(
    cls: type[TaskCreationError], args: tuple[Any, ...], fields: dict[str, Any]
) -> TaskCreationError:
    return cls(*args, **fields)
