"""``ast.parse`` that builds the same tree in any thread, whatever else the process runs.

CPython 3.11 before 3.11.8 counts the depth of the syntax tree it turns into Python objects
(``PyAST_mod2obj``) in state the whole interpreter shares (CPython gh-106905). Building the
tree runs no Python code and keeps the GIL, except when an allocation starts a collection
of the cyclic garbage collector: the finalizers (``__del__``, a generator's ``finally``),
weakref callbacks and ``gc.callbacks`` it runs are Python code, and the thread can hand the
GIL over there. If the thread that takes it parses too, it resets the shared count, and the
first parse then fails with ``SystemError: AST constructor recursion depth mismatch`` (or
``RecursionError``) on a file that is fine. A long-running process (an IDE, a test session,
a server) always holds such garbage; a fresh one holds none, so it never shows there.

Two parts:

- :class:`CollectorPaused`: the collector is off while any thread runs a check or a parse.
  One count shared by every thread: a save-and-restore per call (``enabled =
  gc.isenabled(); gc.disable(); ...; gc.enable()``) let the first of several overlapping
  checks turn the collector back on while the others were still building their trees.
- :func:`parse`: a parse that fails with that mismatch anyway (another part of the program
  turned the collector on and parses too) is repeated; after :data:`ATTEMPTS` it is
  :class:`ParserDisturbed`, which says nothing about the file.
"""

from __future__ import annotations

import ast
import gc
import os
import sys
import threading

from taskguard._errors import TaskguardError

# The SystemError the shared count raises; any other SystemError is not this one.
MISMATCH = "AST constructor recursion depth mismatch"
ATTEMPTS = 3

_LOCK = threading.Lock()
# How many threads are inside a CollectorPaused block; whether the collector was on when
# the first of them came in (what the last one out puts back).
_inside = [0]
_was_enabled = [False]


class CollectorPaused:
    """The cyclic garbage collector off inside the block, in every thread.

    Safe in threads: the first thread in turns the collector off (if it was on), the last
    one out turns it back on (if the first one turned it off); nothing else of the caller's
    setting is touched. Parsing allocates many objects and no cycles, so collections cost
    time and free nothing here; and on 3.11 before 3.11.8 a collection inside a parse can
    let another thread corrupt it (see the module).
    """

    __slots__ = ()

    def __enter__(self) -> None:
        with _LOCK:
            if not _inside[0]:
                _was_enabled[0] = gc.isenabled()
                gc.disable()
            _inside[0] += 1

    def __exit__(self, *exc: object) -> None:
        with _LOCK:
            _inside[0] -= 1
            if not _inside[0] and _was_enabled[0]:
                gc.enable()


def _fresh_lock() -> None:
    # A fork while another thread held the lock would leave the child's copy held forever.
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock)


class ParserDisturbed(TaskguardError, RuntimeError):
    """The parser failed :data:`ATTEMPTS` times because another thread parsed at the same
    time (CPython gh-106905): nothing is known about the file."""

    def __init__(self, detail: str) -> None:
        version = ".".join(map(str, sys.version_info[:3]))
        super().__init__(
            f"Python {version}'s parser was disturbed by another thread parsing at the same"
            f" time, {ATTEMPTS} times in a row ({detail}; CPython gh-106905, fixed in 3.11.8)"
        )
        self.detail = detail

    def __reduce__(self) -> tuple[object, ...]:
        return (ParserDisturbed, (self.detail,))


def parse(data: bytes, filename: str) -> ast.Module:
    """``ast.parse(data, filename)`` with the collector paused, repeated when another thread
    disturbed it (see the module); :class:`ParserDisturbed` when that happened every time.
    Anything else the parser raises is raised as it is."""
    detail = ""
    with CollectorPaused():
        for _ in range(ATTEMPTS):
            try:
                return ast.parse(data, filename)
            except SystemError as error:
                if not str(error).startswith(MISMATCH):
                    raise
                detail = str(error)
    raise ParserDisturbed(detail)
