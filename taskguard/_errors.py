"""Exceptions raised by taskguard.

Every concrete error also subclasses the builtin that callers already catch, carries
structured fields, and survives pickling (pytest-xdist ships them between processes).
"""

from __future__ import annotations

# Not ``from typing import Any``: ``taskguard check`` imports this module on every run.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HINT = "dispatch background work with dispatch.enqueue_http_task() instead"


class TaskguardError(Exception):
    """Base class of every error taskguard raises."""


class PolicyError(TaskguardError, ValueError):
    """The ``[tool.taskguard]`` table is invalid.

    ``problems`` holds one ``(key, message)`` pair per problem found; all of them are
    collected before this is raised, so one run shows every mistake.
    """

    def __init__(
        self,
        problems: list[tuple[str, str]] | tuple[tuple[str, str], ...],
        source: str | None = None,
    ) -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        lines = [f"invalid [tool.taskguard] configuration{where}:"]
        lines.extend(f"  {key}: {message}" for key, message in self.problems)
        return "\n".join(lines)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems, self.source))


class ForbiddenImportError(TaskguardError, ImportError):
    """A guarded module imported something the policy forbids it to import."""

    def __init__(  # noqa: PLR0917 - positional order is the pickled (__reduce__) order
        self,
        importer: str,
        imported: str,
        code: str,
        filename: str | None = None,
        lineno: int | None = None,
        message: str | None = None,
    ) -> None:
        self.importer = importer
        self.imported = imported
        self.code = code
        self.filename = filename
        self.lineno = lineno
        if message is None:
            where = f" at {filename}:{lineno}" if filename else ""
            message = f"{code}: {importer} may not import {imported}{where}; {HINT}"
        self.message = message
        # ImportError's own ``name`` is the module that failed to import: keep it truthful
        # so tooling that inspects ImportError.name keeps working.
        super().__init__(message, name=imported, path=filename)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.importer, self.imported, self.code, self.filename, self.lineno, self.message),
        )


class RuleSelectionError(TaskguardError, ValueError):
    """A selection of rule codes that selects nothing known (``check(select=...)``,
    ``--select``): a code taskguard does not know, or no code at all.

    ``codes`` holds the unknown codes, sorted (empty when no code was given); ``known``
    every code taskguard has.
    """

    def __init__(self, codes: tuple[str, ...], known: tuple[str, ...]) -> None:
        self.codes = tuple(codes)
        self.known = tuple(known)
        what = (
            f"unknown rule code(s) {', '.join(self.codes)}"
            if self.codes
            else "no rule code given (a selection of nothing would report nothing)"
        )
        super().__init__(f"{what}; known: {', '.join(self.known)}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.codes, self.known))
