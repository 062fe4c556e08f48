"""Saying a violation out loud: the warn-mode log line, ``describe``, and the reporter
that ``taskguard run`` attaches in error mode.

Stdlib only at import time: ``structlog`` is imported lazily, so the guard runs in any
interpreter that can import ``taskguard``.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Final

from taskguard._errors import HINT, ForbiddenImportError
from taskguard._rules import Violation

EVENT: Final = "taskguard.forbidden_import"


def _log(record: Violation, *, level: str = "warning", event: str = EVENT) -> None:
    fields = {
        "code": record.code,
        "importer": record.importer,
        "imported": record.imported,
        "file": record.path,
        "line": record.line,
        "hint": HINT,
    }
    try:
        import structlog
    except ImportError:
        # An interpreter of a `taskguard run` tree without structlog: still say it.
        shown = " ".join(f"{key}={value!r}" for key, value in fields.items())
        sys.stderr.write(f"[{level:<9}] {event} {shown}\n")
        return
    if structlog.is_configured():
        logger = structlog.get_logger("taskguard")
    else:
        # structlog's unconfigured default prints to stdout, the program's own output (a
        # CLI's JSON, say): diagnostics go to stderr unless the program configured otherwise.
        logger = structlog.wrap_logger(structlog.PrintLogger(sys.stderr))
    getattr(logger, level)(event, **fields)


def _structlog_configured() -> bool:
    structlog = sys.modules.get("structlog")  # a program that configured it imported it
    try:
        return bool(structlog is not None and structlog.is_configured())
    except Exception:
        return False


def describe(record: Violation) -> str:
    """One line naming a violation: code, importer, imported module, file:line."""
    return (
        f"{record.code} {record.importer} imports {record.imported} at {record.path}:{record.line}"
    )


class BlockedImportReporter:
    """Makes blocked imports loud in a program that may swallow them (``taskguard run``,
    error mode): each distinct violation is written when it happens and again at exit, one
    line each on stderr, or as the structlog event ``taskguard.forbidden_import`` (level
    error) when the program configured structlog."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._seen: dict[Violation, None] = {}

    def __call__(self, record: Violation, error: ForbiddenImportError | None) -> None:
        with self._lock:
            if record in self._seen:
                return
            self._seen[record] = None
        self._emit(record, "taskguard: blocked import: ")

    def at_exit(self) -> None:
        with self._lock:
            seen = list(self._seen)
        if not seen:
            return
        if not _structlog_configured():
            self._write(
                f"taskguard: {len(seen)} forbidden import(s) were blocked in this process "
                "(raised, or swallowed by the program):\n"
            )
        for record in seen:
            self._emit(record, "taskguard:   ", event=f"{EVENT}.at_exit")

    def _emit(self, record: Violation, prefix: str, *, event: str = EVENT) -> None:
        if _structlog_configured():
            _log(record, level="error", event=event)
        else:
            self._write(f"{prefix}{describe(record)}\n")

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # stderr closed by the program: nowhere left to say it
            pass
