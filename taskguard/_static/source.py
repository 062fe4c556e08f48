"""One file: read its bytes, and turn them into its :class:`Record`.

Warnings are silenced around the parser (see :class:`WarningsIgnored`); a file that cannot
be read or parsed becomes a TG900 record, never an exception.
"""

from __future__ import annotations

import ast
import errno
import io
import os
import re
import stat
import sys
import threading
import tokenize
import warnings
from types import FrameType
from typing import NamedTuple, TypeVar

from taskguard._cache import digest
from taskguard._policy import Policy
from taskguard._rules import TG900
from taskguard._static.analyze import Analyzer
from taskguard._static.prefilter import Prefilter
from taskguard._static.pyparse import ParserDisturbed
from taskguard._static.pyparse import parse as _ast_parse
from taskguard._static.records import (
    BROKEN,
    CLEAN_GRAPH_RECORD,
    CLEAN_RECORD,
    DIRECTIVE_NEEDLES,
    FAILED,
    PARSED,
    PREFIX,
    SKIPPED_GRAPH_RECORD,
    SKIPPED_RECORD,
    Finding,
    ImportRef,
    Record,
)
from taskguard._static.suppress import suppressions

# Where a parse failed, as TG900 reports it: (line, column, reason).
Failure = tuple[int, int, str]
_Located = TypeVar("_Located", Finding, ImportRef)


# What a parse can raise for a file Python cannot compile: SyntaxError (decode errors and
# unknown coding cookies included), ValueError (a NUL byte, before 3.12), RecursionError (too
# deeply nested), MemoryError; ParserCrash when the parser took its process down.
class ParserCrash(Exception):
    """The parser killed the (forked) process that ran it: ``how`` says how."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how

    def __reduce__(self) -> tuple[object, ...]:
        return (ParserCrash, (self.how,))


PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, ParserCrash)

# 3.10 builds the syntax tree's Python objects without a depth check: an attribute, call or
# subscript chain a hundred thousand long (which compile() refuses) overflows the C stack.
# Its symbol-table pass does check, and runs the same parser, so it goes first there.
_UNCHECKED_TREE = sys.version_info < (3, 11)
# On 3.10 and 3.11 the depth limits of the parser and the symbol table scale with the
# recursion limit minus the caller's own stack depth; 3.12 and later have fixed ones.
_LIMIT_MOVES = sys.version_info < (3, 12)


_ROOM_LOCK = threading.Lock()
# Per thread inside a room: the room each asked for; the limit is the original one while no
# thread is inside, else the largest asked for (rooms may overlap across threads).
_ROOMS: dict[int, int] = {}
_ORIGINAL_LIMIT: list[int] = []


class _RecursionRoom:
    """The recursion limit raised by the caller's stack depth inside the block, so that the
    parser accepts what ``compile()`` accepts at the top of a program's stack, however deep
    the checker was called from (3.10 and 3.11 only, unless ``always``: the analysis, whose
    one recursion, through call arguments, is bounded by the 200 brackets Python allows)."""

    __slots__ = ("_always", "_key", "_outer")

    def __init__(self, *, always: bool = False) -> None:
        self._always = always

    def __enter__(self) -> None:
        self._key = 0
        if not (_LIMIT_MOVES or self._always):
            return
        depth = 0
        frame: FrameType | None = sys._getframe()
        while frame is not None:
            depth += 1
            frame = frame.f_back
        self._key = threading.get_ident()
        with _ROOM_LOCK:
            if not _ROOMS:
                _ORIGINAL_LIMIT[:] = [sys.getrecursionlimit()]
            self._outer = _ROOMS.get(self._key)
            _ROOMS[self._key] = _ORIGINAL_LIMIT[0] + depth + 50
            sys.setrecursionlimit(max(_ROOMS.values()))

    def __exit__(self, *exc: object) -> None:
        if not self._key:
            return
        with _ROOM_LOCK:
            if self._outer is None:
                del _ROOMS[self._key]
            else:
                _ROOMS[self._key] = self._outer
            limit = max(_ROOMS.values()) if _ROOMS else _ORIGINAL_LIMIT[0]
            sys.setrecursionlimit(limit)


def _symtable(data: bytes, display: str) -> None:
    """Run the parser and the symbol-table pass over ``data`` (CPython), keeping no tree."""
    try:
        import _symtable  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - not CPython
        return
    with _RecursionRoom():
        _symtable.symtable(data, display, "exec")


def _parse_outcome(source: tuple[bytes, str]) -> str:
    """In a forked child: "" when ``ast.parse`` accepts ``source``, else why not."""
    try:
        with _RecursionRoom():
            _ast_parse(source[0], source[1])
    except Exception as error:
        return type(error).__name__
    return ""


def parse(data: bytes, display: str) -> ast.Module:
    """``ast.parse(data)``, made safe: it raises one of :data:`PARSE_ERRORS`, never takes
    the process down (:class:`ParserCrash` instead), accepts the depth ``compile()``
    accepts at the top of a stack, and gives the same answer in any thread (see
    ``pyparse``: :class:`ParserDisturbed` when another thread kept disturbing it).

    On 3.10 the symbol-table pass runs first: it refuses a tree too deep to build
    (RecursionError). When it refuses the file for another reason (a duplicate argument,
    which ``ast.parse`` accepts), it may have stopped before a deep chain further down, so
    ``ast.parse`` then runs in a forked child first; if that child crashes, so would this
    process.
    """
    if _UNCHECKED_TREE:
        try:
            _symtable(data, display)
        except (SyntaxError, ValueError):
            from taskguard._static.isolate import Died, call_isolated, can_fork, settle

            settle(0.2)  # a parse thread of an earlier file may not be reaped yet
            if can_fork():
                outcome = call_isolated(_parse_outcome, (data, display))
                if isinstance(outcome, Died):
                    raise ParserCrash(outcome.how) from None
    try:
        with _RecursionRoom():
            return _ast_parse(data, display)
    except (RecursionError, MemoryError):
        # The parser's depth limits count the caller's stack too (the C stack on 3.12 and
        # later, where no recursion limit can be raised): a thread of its own starts at the
        # bottom of a fresh stack, where the limits are those of a program's top level.
        return _parse_in_thread(data, display)


def _parse_in_thread(data: bytes, display: str) -> ast.Module:
    outcome: list[ast.Module | BaseException] = []

    def target() -> None:
        try:
            with _RecursionRoom():
                outcome.append(_ast_parse(data, display))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=target, name="taskguard-parse")
    thread.start()
    thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _char_columns(data: bytes, located: list[_Located]) -> list[_Located]:
    """Turn the parser's 0-based UTF-8 byte offsets (``column``) into 1-based characters."""
    if data.isascii():
        return [item._replace(column=item.column + 1) for item in located]
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):  # pragma: no cover - it parsed
        return [item._replace(column=item.column + 1) for item in located]
    text = text.removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)
    out = []
    for item in located:
        line = lines[item.line - 1] if 0 < item.line <= len(lines) else ""
        column = len(line.encode("utf-8")[: item.column].decode("utf-8", "replace")) + 1
        out.append(item._replace(column=column))
    return out


def _failure(failure: BaseException) -> Failure:
    """(line, column, reason) of a parse failure, as TG900 reports it."""
    # An unknown coding cookie is a SyntaxError at line 0, offset -1: columns start at 1.
    line = max(getattr(failure, "lineno", None) or 1, 1)
    column = max(getattr(failure, "offset", None) or 1, 1)
    reason = getattr(failure, "msg", None) or str(failure) or type(failure).__name__
    if isinstance(failure, RecursionError):
        reason = f"too deeply nested for this Python's parser ({reason})"
    elif isinstance(failure, MemoryError):
        reason = f"out of memory while parsing ({reason})"
    elif isinstance(failure, ParserCrash):
        reason = f"Python's parser crashed on it ({failure.how})"
    return (line, column, str(reason))


def _failed(failure: Failure, path: str, status: int = FAILED, action: str = "parse") -> Record:
    line, column, reason = failure
    message = TG900.template.format(action=action, path=path, error=reason)
    return Record(
        status, (Finding(line, column, line, TG900.code, None, message, -1, ()),), (), None
    )


def unreadable(display: str, exc: OSError) -> Record:
    message = TG900.template.format(action="read", path=display, error=exc.strerror or exc)
    return Record(FAILED, (Finding(1, 1, 1, TG900.code, None, message, -1, ()),), (), None)


def crashed(display: str, how: str) -> Record:
    """TG900 for a file whose analysis killed the process running it."""
    reason = f"the process analysing it died ({how})"
    return _failed((1, 1, reason), display, action="analyse")


def _syntax_exception(data: bytes, display: str) -> BaseException | None:
    """Why ``data`` does not parse, or None: ``ast.parse``'s verdict, without its tree.

    Building the syntax tree's Python objects costs about as much as parsing does, and a
    file the prefilter proves irrelevant needs no tree. The symbol-table pass runs the same
    parser (same decoding, coding cookies and BOM) and keeps only a small table, so it is the
    cheap test. It also rejects some programs that parse but do not compile (a duplicate
    argument, ``nonlocal`` at module level, ``import *`` in a function); for those, and for
    any failure, :func:`parse` decides, so the answer is exactly that of a full parse.
    """
    try:
        _symtable(data, display)
    except PARSE_ERRORS:
        pass
    else:
        return None
    try:
        parse(data, display)
    except PARSE_ERRORS as error:
        return error
    return None


def _syntax_error(data: bytes, display: str) -> Failure | None:
    """(line, column, reason) of :func:`_syntax_exception`, or None when ``data`` parses."""
    error = _syntax_exception(data, display)
    return None if error is None else _failure(error)


class SyntaxMemo:
    """:func:`_syntax_error` remembered by a digest of the bytes (``syntax-*.bin``).

    The verdict depends on the bytes and the Python build only, so it survives what starts a
    fresh record cache: a policy change, an upgrade of taskguard, a file touched but not
    changed. ``learned`` collects the new verdicts for the caller to store.
    """

    __slots__ = ("known", "learned")

    def __init__(self, known: dict[bytes, Failure | None]) -> None:
        self.known = known
        self.learned: list[tuple[bytes, Failure | None]] = []

    def check(self, data: bytes, display: str) -> Failure | None:
        key = digest(data)
        known = self.known.get(key, False)
        if known is None or (type(known) is tuple and len(known) == 3):
            return known
        error = _syntax_exception(data, display)
        failed = None if error is None else _failure(error)
        # Running out of memory says nothing about the file.
        if not isinstance(error, MemoryError):
            self.learned.append((key, failed))
        return failed


# One "ignore everything" entry, first in warnings.filters while any thread is inside a
# WarningsIgnored block; how many are.
_IGNORE_ALL = ("ignore", None, Warning, None, 0)
_SILENCE_LOCK = threading.Lock()
_silenced = [0]


def _filters() -> list[object]:
    # A list (typeshed says Sequence: callers are not meant to edit it in place; this module
    # does, as warnings.simplefilter() itself does).
    return warnings.filters  # type: ignore[return-value]


def _filters_mutated() -> None:
    # What warnings.simplefilter() calls: the filters' version moves on, so the warnings a
    # module's registry remembers as ignored are looked at again.
    warnings._filters_mutated()  # type: ignore[attr-defined]


class WarningsIgnored:
    """Every warning ignored inside the block.

    SyntaxWarnings (invalid escapes...) are the file's business, and under ``-W error`` they
    would turn into SyntaxErrors in the parser.

    Safe in threads, unlike ``warnings.catch_warnings()``, which saves the filters list and
    puts it back: checks running at once in several threads restored each other's copies,
    so a file could be parsed under the caller's ``error`` filter in one thread (TG900 there
    only), and "ignore everything" outlived them all. Here the first thread in puts one
    entry first in the filters, the last one out takes that entry out, and nothing else of
    the caller's filters is touched. (Warnings are a process-wide setting: while a block
    runs, other threads' warnings are ignored too.)
    """

    __slots__ = ()

    def __enter__(self) -> None:
        with _SILENCE_LOCK:
            _silenced[0] += 1
            if _silenced[0] == 1:
                _filters().insert(0, _IGNORE_ALL)
                _filters_mutated()

    def __exit__(self, *exc: object) -> None:
        with _SILENCE_LOCK:
            _silenced[0] -= 1
            if _silenced[0]:
                return
            filters = _filters()
            for i, entry in enumerate(filters):
                if entry is _IGNORE_ALL:
                    del filters[i]
                    break
            _filters_mutated()


def _fresh_silence_lock() -> None:
    # A fork while another thread held the lock would leave the child's copy held forever.
    global _SILENCE_LOCK
    _SILENCE_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_silence_lock)


class Job(NamedTuple):
    """How the files of one run are analysed."""

    policy: Policy
    prefilter: Prefilter | None  # None: the reference analysis (every file, every expression)
    graph: bool  # TG004's import graph is built
    parse_all: bool  # a file the prefilter rules out is still parsed (for syntax: TG900)
    syntax: SyntaxMemo | None  # remembered syntax checks (None: no cache)


class Task(NamedTuple):
    """One file to analyse."""

    path: str  # absolute
    display: str  # the path records and TG900 messages name (project-relative)
    module: str
    is_package: bool
    size: int  # from the directory listing; -1 when unknown


def analyze_source(
    data: bytes,
    module: str,
    is_package: bool,
    policy: Policy,
    *,
    prefilter: Prefilter | None,
    graph: bool,
    parse_all: bool,
    display: str = "<source>",
) -> Record:
    """The record of one module's source bytes.

    ``prefilter`` None is the reference analysis: every statement and expression of the
    parsed file. Otherwise the prefilter decides from the bytes whether the file can hold
    anything relevant; one that cannot is not parsed at all or, with ``parse_all``, only
    checked for syntax (TG900).
    """
    job = Job(policy, prefilter, graph, parse_all, None)
    with WarningsIgnored():
        return analyze_bytes(data, Task("", display, module, is_package, len(data)), job)


def analyze_bytes(data: bytes, task: Task, job: Job) -> Record:
    """:func:`analyze_source`, with warnings already silenced by the caller."""
    policy, prefilter, graph, parse_all, syntax = job
    module, display = task.module, task.display
    protected = policy.is_protected(module)
    if prefilter is not None and not prefilter.needs_parse(data, module, protected):
        if not parse_all:
            return SKIPPED_GRAPH_RECORD if graph else SKIPPED_RECORD
        failed = _syntax_error(data, display) if syntax is None else syntax.check(data, display)
        if failed is not None:
            return _failed(failed, display, BROKEN)
        return CLEAN_GRAPH_RECORD if graph else CLEAN_RECORD
    tree: ast.Module | None = None
    status = PARSED
    # The prefilter mode's TG004 graph may parse a file only up to its last import statement
    # (see Prefilter.prefix_end): a syntax error after it then goes unreported.
    cut = prefilter.prefix_end(data, protected) if prefilter and not parse_all and graph else None
    try:
        if cut is not None:
            try:
                tree = parse(data[:cut], display)
                status = PREFIX
            except PARSE_ERRORS:
                pass
        if tree is None:
            tree = parse(data, display)
    except PARSE_ERRORS as error:
        return _failed(_failure(error), display)
    except ParserDisturbed as error:
        # Says nothing about the file: "could not analyse", so the cache does not keep it.
        return _failed((1, 1, str(error)), display, action="analyse")
    except Exception as error:
        # Anything else the parser raises: this file is TG900, the others are still judged.
        return _failed((1, 1, f"{type(error).__name__}: {error}"), display)
    try:
        with _RecursionRoom(always=True):
            return _analyse_tree(tree, data, task, job, status)
    except Exception as error:
        # A bug of the checker: TG900 for this file, not a traceback that loses the report.
        return _failed((1, 1, f"{type(error).__name__}: {error}"), display, action="analyse")


def _analyse_tree(tree: ast.Module, data: bytes, task: Task, job: Job, status: int) -> Record:
    policy, prefilter, graph = job.policy, job.prefilter, job.graph
    module = task.module
    protected = policy.is_protected(module)
    package = module if task.is_package else module.rpartition(".")[0]
    walk = prefilter is None or prefilter.expressions_matter(data, protected)
    # Every way of spelling TYPE_CHECKING names it, in ASCII or (NFKC) in non-ASCII text.
    spelled = not data.isascii() or b"TYPE_CHECKING" in data
    analyzer = Analyzer(
        policy,
        module,
        package,
        walk_expressions=walk,
        graph=graph,
        type_checking=spelled,
        source=data,
    )
    analyzer.run(tree)
    if not walk and analyzer.needs_expressions():
        # A name bound to a module above a pattern (or a star import of one): its attribute
        # chains need the expression pass after all (the statement pass is what finds out).
        analyzer = Analyzer(
            policy,
            module,
            package,
            walk_expressions=True,
            graph=graph,
            type_checking=spelled,
            source=data,
        )
        analyzer.run(tree)
    findings = _char_columns(data, analyzer.findings)
    # A directive spelled with capitals too: a TG005 telling how to write it.
    found = suppressions(data) if any(n in data for n in DIRECTIVE_NEEDLES) else ()
    imports = tuple(_char_columns(data, analyzer.imports)) if graph else None
    return Record(status, tuple(findings), found, imports)


# O_NONBLOCK: opening a named pipe for reading would otherwise wait for a writer forever; it
# changes nothing for a regular file, and anything else is refused before a read.
_O_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)


def read(path: str, size: int) -> bytes:
    """The bytes of ``path``; ``size`` is what the listing said (-1: unknown)."""
    # Raw descriptor reads: a buffered file object costs more than the read itself here.
    fd = os.open(path, _O_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            # A FIFO never ends, /dev/zero never ends: neither is a module to read.
            raise OSError(errno.EINVAL, "not a regular file", path)
        data = os.read(fd, size + 1) if size >= 0 else b""
        if size < 0 or len(data) > size:  # unknown size, or the file grew since stat
            chunks = [data]
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data
    finally:
        os.close(fd)


def analyze_file(task: Task, job: Job) -> Record:
    """The record of one file on disk (TG900 when it cannot be read or analysed)."""
    try:
        data = read(task.path, task.size)
    except OSError as exc:
        return unreadable(task.display, exc)
    except MemoryError:
        return _failed((1, 1, "out of memory while reading it"), task.display, action="read")
    try:
        return analyze_bytes(data, task, job)
    except ParserDisturbed as error:  # from the syntax check of a file the prefilter ruled out
        return _failed((1, 1, str(error)), task.display, action="analyse")
    except Exception as error:
        # The prefilter's turn (the parse and the analysis have their own): the same rule.
        reason = f"{type(error).__name__}: {error}"
        return _failed((1, 1, reason), task.display, action="analyse")
