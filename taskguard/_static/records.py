"""What the checker produces per file, with named fields.

A :class:`Record` is the result of one file: its status, its findings, its inline
suppressions and (for TG004) the first-party or forbidden names it imports. Records are
tuples underneath (``NamedTuple``) so they compare, hash and pickle like tuples; the cache
stores them as plain tuples (``marshal`` takes builtins only), converted by :func:`plain`
and :func:`from_plain` where the run reads and writes the cache, and nowhere else.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from taskguard._rules import Violation

# Record.status
SKIPPED = 0  # the prefilter ruled the file out: not parsed (the default mode)
PARSED = 1
FAILED = 2  # TG900: unreadable, or a file needing the analysis that does not parse
BROKEN = 3  # TG900 (parse-all mode): a file the prefilter ruled out that does not parse
PREFIX = 4  # parsed up to its last import (the default mode, for TG004's graph)


class Finding(NamedTuple):
    """One violation found in a file, before suppressions and allow entries apply."""

    line: int
    column: int  # 1-based, in characters (0-based bytes while the analyzer collects it)
    statement_line: int  # first line of the statement holding it (suppressions go there too)
    code: str
    imported: str | None
    message: str
    allow_index: int  # index in ``policy.allow`` of the entry that excuses it, or -1
    chain: tuple[str, ...]  # the TG004 import chain; empty for the other codes


# What a file's bytes hold when it has a suppression directive, in every spelling the
# suppressions module recognises (``taskguard``, ``TaskGuard``, ``TASKGUARD``...): the
# prefilter passes such a file, the analysis tokenizes only such a file.
DIRECTIVE_NEEDLES = (b"askguard", b"askGuard", b"ASKGUARD")


class Suppression(NamedTuple):
    """One ``# taskguard: ...`` comment."""

    line: int
    codes: tuple[str, ...]
    problem: str  # empty for a well-formed suppression, else why it suppresses nothing


class ImportRef(NamedTuple):
    """One first-party or forbidden name a file imports (an edge of the TG004 graph)."""

    line: int
    column: int
    statement_line: int
    name: str


class Record(NamedTuple):
    """The result of one file."""

    status: int
    findings: tuple[Finding, ...]
    suppressions: tuple[Suppression, ...]
    imports: tuple[ImportRef, ...] | None  # None: nobody asked for them, or the file failed

    def analysis_failed(self) -> bool:
        """Whether the analysis itself failed (TG900 "could not analyse": the process died,
        or a bug of the checker) or the file could not be read (TG900 "could not read": too
        many open files, memory, an I/O error, which may not happen again), which says
        nothing lasting about the file's bytes: such a record is not kept in the cache."""
        return any(
            f.code == "TG900" and f.message.startswith(("could not analyse ", "could not read "))
            for f in self.findings
        )

    def matters(self, graph: bool) -> bool:
        """Whether the run needs this record: it has something to report, or feeds TG004."""
        return graph or bool(self.findings) or bool(self.suppressions)


SKIPPED_RECORD = Record(SKIPPED, (), (), None)
SKIPPED_GRAPH_RECORD = Record(SKIPPED, (), (), ())
# A file the prefilter proved irrelevant that parses: nothing to report, no graph edge.
CLEAN_RECORD = Record(PARSED, (), (), None)
CLEAN_GRAPH_RECORD = Record(PARSED, (), (), ())


def plain(record: Record) -> tuple[Any, ...]:
    """``record`` as builtins only, for the cache."""
    imports = record.imports
    return (
        record.status,
        tuple(tuple(f) for f in record.findings),
        tuple(tuple(s) for s in record.suppressions),
        None if imports is None else tuple(tuple(i) for i in imports),
    )


def from_plain(raw: Any) -> Record:
    """The record :func:`plain` stored (the cache checked its shape)."""
    status, findings, suppressions, imports = raw
    return Record(
        status,
        tuple(Finding._make(f) for f in findings),
        tuple(Suppression._make(s) for s in suppressions),
        None if imports is None else tuple(ImportRef._make(i) for i in imports),
    )


class CheckResult:
    """What :func:`check` found: every violation (sorted) and how many files were judged.

    With a baseline (``check(baseline=True)`` and the file present), ``violations`` holds
    the failures only (new violations, and TG005 for stale baseline entries), ``baselined``
    the violations the baseline accepted, and ``baseline`` the file, as reports show paths.

    ``empty_reason`` says why no file was judged (the paths, ``exclude``, ``root-packages``)
    when ``files_checked`` is 0, and is empty otherwise: a run that checked nothing is no
    pass (the CLI exits 2).
    """

    __slots__ = ("baseline", "baselined", "empty_reason", "files_checked", "violations")

    def __init__(
        self,
        violations: tuple[Violation, ...],
        files_checked: int,
        baselined: tuple[Violation, ...] = (),
        baseline: str | None = None,
        empty_reason: str = "",
    ) -> None:
        self.violations = violations
        self.files_checked = files_checked
        self.baselined = baselined
        self.baseline = baseline
        self.empty_reason = empty_reason

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.violations,
            self.files_checked,
            self.baselined,
            self.baseline,
            self.empty_reason,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CheckResult):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        extra = (
            f", baselined={self.baselined!r}, baseline={self.baseline!r}"
            if self.baseline is not None
            else ""
        )
        if self.empty_reason:
            extra += f", empty_reason={self.empty_reason!r}"
        return (
            f"CheckResult(violations={self.violations!r}, files_checked={self.files_checked}"
            f"{extra})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (CheckResult, self._fields())
