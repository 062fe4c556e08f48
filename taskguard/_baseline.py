"""The baseline: violations a project accepted when it adopted taskguard, to be paid down.

``taskguard check --write-baseline`` records the run's violations in a JSON file
(``taskguard-baseline.json`` at the project root by default); later runs read it, and a
violation it records is *baselined*: reported as such, not a failure. The file only shrinks:
an entry that matches nothing any more is a stale entry, reported as TG005.

An entry is keyed on what stays true while unrelated code around it changes: the rule code,
the importing module, the imported name and the statement itself, normalised through its
syntax tree (``ast.unparse``), never its line. A moved import keeps its entry; reformatting
it (line breaks, parentheses, spacing, quotes) keeps it too, and so does an import sorter,
because an import statement is reduced to its names that import the forbidden module, sorted
(:func:`canonical`). Each entry carries a count, so a second copy of a baselined import in
the same module is a new violation.

Only what can be paid down is recorded: TG001-TG004. TG900 (a file taskguard could not
read or parse, so could not check) and TG005 (a stale exception) are never baselined; like
an inline suppression, the baseline cannot silence them.

Everything here is pure except :func:`load` and :func:`write`, which read and write the
file; printing is the CLI's business. Errors: :class:`BaselineError`.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field

from taskguard._errors import BaselineError
from taskguard._rules import TG005, Violation

# Not ``from typing import ...``: the rest of the package avoids importing typing on the
# ``taskguard check`` path, and type checkers treat any ``TYPE_CHECKING`` name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
    from pathlib import Path
    from typing import Any, Final

VERSION: Final = 1
# The codes a baseline may record: the ones fixed by changing an import. TG900 means the
# file was not checked at all and TG005 is itself about stale exceptions.
CODES: Final = frozenset({"TG001", "TG002", "TG003", "TG004"})
# Codes whose violations name no imported module (the construct is dynamic).
_NO_IMPORTED: Final = frozenset({"TG003"})
_TOP_KEYS: Final = ("version", "entries")
_ENTRY_KEYS: Final = ("code", "importer", "imported", "statement", "count")
# Line breaks as the parser counts them (str.splitlines also splits on \f, \x1c, ...).
_NEWLINES: Final = re.compile(r"\r\n|\r|\n")


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """The key of one baselined violation. ``imported`` is ``None`` for TG003."""

    code: str
    importer: str
    imported: str | None
    statement: str

    def order(self) -> tuple[str, str, str, str]:
        """The sort key of entries in the file: module by module, then code, then name."""
        return (self.importer, self.code, self.imported or "", self.statement)

    def describe(self) -> str:
        """One line for humans: ``TG002 app.api.routers.x -> httpx: import httpx``."""
        target = f" -> {self.imported}" if self.imported is not None else ""
        return f"{self.code} {self.importer}{target}: {self.statement}"

    def as_json(self, count: int) -> dict[str, object]:
        return {
            "code": self.code,
            "importer": self.importer,
            "imported": self.imported,
            "statement": self.statement,
            "count": count,
        }


@dataclass(frozen=True)
class Baseline:
    """A multiset of entries: each :class:`Entry` with how many violations it accepts.

    ``lines`` (where each entry was read from, for TG005) takes no part in equality.
    """

    counts: Mapping[Entry, int] = field(default_factory=dict)
    lines: Mapping[Entry, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for entry, count in self.counts.items():
            if type(count) is not int or count < 1:
                raise ValueError(f"count of {entry.describe()} must be a positive int: {count!r}")

    def __len__(self) -> int:
        """The number of violations the baseline accepts (counts summed)."""
        return sum(self.counts.values())

    def sorted(self) -> list[tuple[Entry, int]]:
        return sorted(self.counts.items(), key=lambda item: item[0].order())

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> Baseline:
        """The baseline that accepts exactly ``entries`` (repeats counted)."""
        return cls(dict(Counter(entries)))


# --------------------------------------------------------------------------- statements


def _text_lines(data: bytes) -> list[str]:
    """The source lines as the parser numbers them, decoded as Python decodes the file."""
    import io
    import tokenize

    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding).removeprefix("\ufeff")
    return _NEWLINES.split(text)


_SIMPLE_STATEMENTS: Final = (
    ast.Import,
    ast.ImportFrom,
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Return,
    ast.Delete,
    ast.Raise,
    ast.Assert,
    ast.Global,
    ast.Nonlocal,
    ast.Pass,
    ast.Break,
    ast.Continue,
)


class _Index:
    """One parsed file, indexed to find the statement of a violation quickly."""

    __slots__ = ("_calls", "_lines", "_simple", "_starts")

    def __init__(self, tree: ast.AST, lines: list[str]) -> None:
        self._lines = lines
        # Simple statements by every line they span (they never nest, so this stays small).
        self._simple: dict[int, list[ast.stmt]] = {}
        # Innermost call, and innermost expression, by start position (line, byte offset).
        self._calls: dict[tuple[int, int], ast.Call] = {}
        self._starts: dict[tuple[int, int], ast.expr] = {}
        for node in ast.walk(tree):
            if isinstance(node, _SIMPLE_STATEMENTS):
                end = node.end_lineno or node.lineno
                for line in range(node.lineno, end + 1):
                    self._simple.setdefault(line, []).append(node)
            elif isinstance(node, ast.expr):
                # ast.walk is breadth-first: an inner node starting at the same place as
                # its parent comes later and replaces it.
                start = (node.lineno, node.col_offset)
                self._starts[start] = node
                if isinstance(node, ast.Call):
                    self._calls[start] = node

    def statement(self, line: int, column: int) -> str | None:
        """The normalised statement of a violation at ``line``, 1-based character ``column``.

        An import statement containing the position is the statement; else the innermost
        call starting there (``importlib.import_module(name)``, wherever it sits); else the
        simple statement containing it (``run = eval``); else the innermost expression
        starting there (a call in a decorator or a default argument).
        """
        if not 0 < line <= len(self._lines):
            return None
        offset = len(self._lines[line - 1][: max(column - 1, 0)].encode("utf-8"))
        position = (line, offset)
        containing = [
            node
            for node in self._simple.get(line, ())
            if (node.lineno, node.col_offset)
            <= position
            < (node.end_lineno or node.lineno, node.end_col_offset or 0)
        ]
        for node in containing:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                return normalise(node)
        call = self._calls.get(position)
        if call is not None:
            return normalise(call)
        if containing:
            return normalise(containing[0])
        expression = self._starts.get(position)
        return normalise(expression) if expression is not None else None


def normalise(node: ast.AST) -> str:
    """The statement as a key: ``ast.unparse`` of its tree, so layout and quotes vanish."""
    return ast.unparse(node)


def _related(full: str, imported: str) -> bool:
    """Whether importing ``full`` is (or is inside, or contains) importing ``imported``."""
    return full == imported or full.startswith(imported + ".") or imported.startswith(full + ".")


def canonical(statement: str, imported: str | None) -> str:
    """The key of an import statement: only the names of it that import ``imported``, sorted.

    An import sorter's edits are reformatting too: ``import requests, aiohttp`` split into
    two statements, the names of ``from x import b, a`` put in order, or an unrelated name
    added beside the forbidden one leave the violation's key as it was. An alias
    (``import httpx as h``) and the names of an import *of* the forbidden module itself
    (``from httpx import Client, get``) stay part of it. Any other statement is returned as
    it is.
    """
    try:
        body = ast.parse(statement).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return statement
    if len(body) != 1 or not isinstance(body[0], (ast.Import, ast.ImportFrom)):
        return statement
    node = body[0]
    kept = list(node.names)
    if imported is not None:
        if isinstance(node, ast.Import):
            related = [a for a in kept if _related(a.name, imported)]
        elif node.level == 0 and node.module is not None:
            related = [a for a in kept if _related(f"{node.module}.{a.name}", imported)]
        else:
            # A relative import names its package by position: compare the last parts.
            related = [
                a
                for a in kept
                if f".{imported}".endswith(f".{a.name}") or f".{a.name}." in f".{imported}."
            ]
        kept = related or kept  # nothing recognisable (a first hop of TG004): all names
    kept.sort(key=lambda alias: (alias.name, alias.asname or ""))
    if isinstance(node, ast.Import):
        return normalise(ast.Import(names=kept))
    return normalise(ast.ImportFrom(module=node.module, names=kept, level=node.level))


def canonical_entry(entry: Entry) -> Entry:
    """``entry`` keyed by :func:`canonical` (entries written before it hold whole statements)."""
    statement = canonical(entry.statement, entry.imported)
    if statement == entry.statement:
        return entry
    return Entry(entry.code, entry.importer, entry.imported, statement)


def canonicalised(baseline: Baseline) -> Baseline:
    """``baseline`` with every entry keyed by :func:`canonical` (counts of merged keys added)."""
    counts: Counter[Entry] = Counter()
    for entry, count in baseline.counts.items():
        counts[canonical_entry(entry)] += count
    return Baseline(dict(counts))


def statement_in(data: bytes, line: int, column: int) -> str | None:
    """The normalised statement of a violation at ``line``:``column`` of source ``data``,
    or ``None`` when the source does not parse or nothing sits there."""
    index = _index(data)
    return None if index is None else index.statement(line, column)


def _index(data: bytes) -> _Index | None:
    try:
        tree = ast.parse(data)
        lines = _text_lines(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError, LookupError):
        return None
    return _Index(tree, lines)


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def entries_for(
    violations: Iterable[Violation], read: Callable[[str], bytes] = _read_bytes
) -> list[tuple[Violation, Entry | None]]:
    """Each violation with its entry, or ``None`` when it cannot be baselined: a code the
    baseline does not record, or a statement that cannot be found any more (the file is
    gone, or changed since the check read it). ``read(path)`` returns a file's bytes."""
    indexes: dict[str, _Index | None] = {}
    out: list[tuple[Violation, Entry | None]] = []
    for v in violations:
        entry: Entry | None = None
        if v.code in CODES and v.importer:
            if v.path not in indexes:
                try:
                    indexes[v.path] = _index(read(v.path))
                except OSError:
                    indexes[v.path] = None
            index = indexes[v.path]
            statement = index.statement(v.line, v.column) if index is not None else None
            if statement is not None:
                imported = None if v.code in _NO_IMPORTED else v.imported
                entry = Entry(v.code, v.importer, imported, canonical(statement, imported))
        out.append((v, entry))
    return out


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Match:
    """A run's violations against a baseline.

    ``new``: not baselined (failures); ``baselined``: accepted by an entry; ``stale``:
    entries, with the count left over, that no violation of the run used.
    """

    new: tuple[Violation, ...]
    baselined: tuple[Violation, ...]
    stale: tuple[tuple[Entry, int], ...]


def match(
    keyed: Sequence[tuple[Violation, Entry | None]],
    baseline: Baseline,
    *,
    judge_stale: bool = True,
) -> Match:
    """Split ``keyed`` (from :func:`entries_for`) into new and baselined violations.

    An entry with count N accepts the first N violations with its key, in report order; the
    rest are new. ``judge_stale``: whether the run saw the whole project (a run over some
    paths cannot know that an entry for another file matches nothing).
    """
    # Keys compare in their canonical form; the entries of the file (several of which may
    # share one key) are what stale entries are reported as.
    allowed: Counter[Entry] = Counter()
    entries_of: dict[Entry, list[Entry]] = {}
    for recorded, count in baseline.sorted():
        key = canonical_entry(recorded)
        allowed[key] += count
        entries_of.setdefault(key, []).append(recorded)
    used: Counter[Entry] = Counter()
    new: list[Violation] = []
    baselined: list[Violation] = []
    keys: dict[Entry, Entry] = {}
    for violation, entry in sorted(keyed, key=lambda pair: pair[0]):
        found: Entry | None = None
        if entry is not None:
            found = keys.get(entry)
            if found is None:
                found = keys[entry] = canonical_entry(entry)
        if found is not None and used[found] < allowed[found]:
            used[found] += 1
            baselined.append(violation)
        else:
            new.append(violation)
    stale: list[tuple[Entry, int]] = []
    if judge_stale:
        for key, originals in entries_of.items():
            left = allowed[key] - used[key]
            # The last entries of the key are the unused ones.
            for recorded in reversed(originals):
                if left <= 0:
                    break
                share = min(left, baseline.counts[recorded])
                stale.append((recorded, share))
                left -= share
        stale.sort(key=lambda item: item[0].order())
    return Match(tuple(new), tuple(baselined), tuple(stale))


def stale_violations(
    stale: Iterable[tuple[Entry, int]], baseline: Baseline, shown_path: str
) -> list[Violation]:
    """TG005 for each stale entry, located at its line in the baseline file."""
    out = []
    for entry, left in stale:
        count = baseline.counts[entry]
        extra = f" ({left} of its {count} occurrences)" if count > 1 else ""
        what = f"baseline entry {entry.describe()}{extra}"
        message = TG005.template.format(what=what)
        if left < count:
            # Some occurrences are still there: removing the entry would make them new.
            message = f"{what} matched nothing; lower its count to {count - left}"
        out.append(
            Violation(
                shown_path,
                baseline.lines.get(entry, 1),
                1,
                TG005.code,
                entry.importer,
                entry.imported,
                message,
            )
        )
    return out


def settle(
    keyed: Sequence[tuple[Violation, Entry | None]],
    baseline: Baseline,
    shown_path: str,
    *,
    judge_stale: bool,
    unjudged: Collection[str] = (),
) -> tuple[list[Violation], list[Violation]]:
    """The failures (new violations, and TG005 for stale entries) and the baselined
    violations of a run whose ``keyed`` violations are matched against ``baseline``
    (``shown_path``: the baseline file, as reports show paths).

    ``unjudged``: the modules of the run that could not be judged (TG900). An entry of one
    of them is not called stale (the import it records may still be there), nor a TG004
    entry when any module is unjudged (the chain may run through it)."""
    outcome = match(keyed, baseline, judge_stale=judge_stale)
    stale = [
        (entry, left)
        for entry, left in outcome.stale
        if entry.importer not in unjudged and not (unjudged and entry.code == "TG004")
    ]
    failures = [*outcome.new, *stale_violations(stale, baseline, shown_path)]
    return failures, list(outcome.baselined)


def apply(
    violations: Sequence[Violation],
    path: str | os.PathLike[str],
    shown_path: str,
    *,
    judge_stale: bool,
    cwd: str,
    unjudged: Collection[str] = (),
) -> tuple[list[Violation], list[Violation]]:
    """:func:`settle` a run's violations (paths relative to ``cwd``) against the baseline
    file at ``path``; raises :class:`BaselineError` when the file is not a valid baseline."""
    baseline = load(path, shown_path)

    def read(display: str) -> bytes:
        return _read_bytes(os.path.join(cwd, display))

    # A violation no entry could accept is new whatever its statement: its file need not be
    # parsed again to key it.
    recorded = {(entry.code, entry.importer) for entry in baseline.counts}
    candidates = [v for v in violations if (v.code, v.importer) in recorded]
    keyed = entries_for(candidates, read)
    keyed += [(v, None) for v in violations if (v.code, v.importer) not in recorded]
    return settle(keyed, baseline, shown_path, judge_stale=judge_stale, unjudged=unjudged)


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class Diff:
    """What a rewrite changed: entries (with counts) added and removed."""

    added: tuple[tuple[Entry, int], ...]
    removed: tuple[tuple[Entry, int], ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def diff(old: Baseline, new: Baseline) -> Diff:
    """Entries in ``new`` but not ``old`` and the reverse, counted as multisets."""
    before, after = Counter(old.counts), Counter(new.counts)
    added = after - before
    removed = before - after
    return Diff(
        tuple(sorted(added.items(), key=lambda item: item[0].order())),
        tuple(sorted(removed.items(), key=lambda item: item[0].order())),
    )


# --------------------------------------------------------------------------- the file


def dumps(baseline: Baseline) -> str:
    """The file's text: versioned, entries sorted, one entry per line (diffs stay small).

    ASCII only, so the file reads the same in every encoding an editor may assume.
    """
    rows = [
        "    " + json.dumps(entry.as_json(count), ensure_ascii=True)
        for entry, count in baseline.sorted()
    ]
    listed = "[\n" + ",\n".join(rows) + "\n  ]" if rows else "[]"
    return f'{{\n  "version": {VERSION},\n  "entries": {listed}\n}}\n'


def write(path: str | os.PathLike[str], baseline: Baseline, name: str | None = None) -> None:
    """Write ``baseline`` to ``path`` atomically (a reader never sees half a file).

    Raises :class:`BaselineError` (naming the file as ``name``) when it cannot be written.
    """
    import secrets

    target = os.fspath(path)
    shown = target if name is None else name
    directory, base = os.path.split(os.path.abspath(target))
    text = dumps(baseline)
    # Not tempfile.mkstemp: its files are private (0600); this one gets the mode any new
    # file gets (the umask applies), like the file it replaces.
    temporary = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="ascii", newline="\n") as fh:
                fh.write(text)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:
        raise BaselineError(shown, [("", f"cannot write: {exc.strerror or exc}")]) from None


def load(path: str | os.PathLike[str], name: str | None = None) -> Baseline:
    """Read and validate the baseline at ``path`` (``name``: how errors name it).

    Raises :class:`BaselineError` naming the file and every problem found; never returns
    an empty baseline for a file it could not understand.
    """
    target = os.fspath(path)
    shown = target if name is None else name
    try:
        data = _read_bytes(target)
    except OSError as exc:
        raise BaselineError(shown, [("", f"cannot read: {exc.strerror or exc}")]) from None
    return loads(data, shown)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r} in one object")
        out[key] = value
    return out


def loads(data: bytes | str, source: str) -> Baseline:
    """Parse and validate a baseline's text (``source`` names it in errors)."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BaselineError(source, [("", f"not UTF-8 text: {exc}")]) from None
    else:
        text = data.removeprefix("\ufeff")
    try:
        document = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except ValueError as exc:  # json.JSONDecodeError, and the two hooks' rejections
        raise BaselineError(source, [("", f"not valid JSON: {exc}")]) from None
    except RecursionError:
        raise BaselineError(source, [("", "not valid JSON: nested too deeply")]) from None
    return _validate(document, source, text)


def _validate(document: object, source: str, text: str) -> Baseline:
    if not isinstance(document, dict):
        raise BaselineError(source, [("", f"expected a JSON object, got {_json_type(document)}")])
    problems: list[tuple[str, str]] = [
        (key, f"unknown key (expected {', '.join(_TOP_KEYS)})")
        for key in document
        if key not in _TOP_KEYS
    ]
    if "version" not in document:
        problems.append(("version", "missing: this is not a taskguard baseline"))
        raise BaselineError(source, problems)
    version = document["version"]
    if type(version) is not int:
        problems.append(("version", f"expected an integer, got {_json_type(version)}"))
        raise BaselineError(source, problems)
    if version != VERSION:
        problems.append(
            (
                "version",
                f"version {version} is not supported (this taskguard reads version "
                f"{VERSION}); record it again with 'taskguard check --write-baseline' "
                "after deleting the file",
            )
        )
        raise BaselineError(source, problems)
    if "entries" not in document:
        problems.append(("entries", "missing"))
        raise BaselineError(source, problems)
    raw = document["entries"]
    if not isinstance(raw, list):
        problems.append(("entries", f"expected a list, got {_json_type(raw)}"))
        raise BaselineError(source, problems)
    counts: dict[Entry, int] = {}
    first: dict[Entry, int] = {}
    for i, item in enumerate(raw):
        entry, count = _entry(item, f"entries[{i}]", problems)
        if entry is None or count is None:
            continue
        if entry in first:
            problems.append(
                (
                    f"entries[{i}]",
                    f"duplicate of entries[{first[entry]}]; one entry with a count records "
                    "repeated violations",
                )
            )
            continue
        first[entry] = i
        counts[entry] = count
    if problems:
        raise BaselineError(source, problems)
    return Baseline(counts, _entry_lines(text, counts))


def _entry(
    item: object, where: str, problems: list[tuple[str, str]]
) -> tuple[Entry | None, int | None]:
    if not isinstance(item, dict):
        problems.append((where, f"expected an object, got {_json_type(item)}"))
        return None, None
    before = len(problems)
    problems.extend(
        (f"{where}.{key}", f"unknown key (expected {', '.join(_ENTRY_KEYS)})")
        for key in item
        if key not in _ENTRY_KEYS
    )
    problems.extend((f"{where}.{key}", "missing") for key in _ENTRY_KEYS if key not in item)
    if len(problems) > before:
        return None, None
    code, importer, imported, statement, count = (item[key] for key in _ENTRY_KEYS)
    if not isinstance(code, str):
        problems.append((f"{where}.code", f"expected a string, got {_json_type(code)}"))
    elif code not in CODES:
        from taskguard._rules import RULES

        why = (
            "is never baselined (fix it; a baseline cannot silence it)"
            if code in RULES
            else "is not a rule code"
        )
        problems.append((f"{where}.code", f"{code!r} {why}; expected one of {_codes()}"))
    # Names are only required to be names: the checker reports module names made from file
    # names (``app.my-router``) and imported names from strings (``import_module("a b")``),
    # and what it writes must load again.
    if not isinstance(importer, str) or not importer.strip():
        problems.append((f"{where}.importer", f"expected a module name, got {importer!r}"))
    if isinstance(code, str) and code in _NO_IMPORTED:
        if imported is not None:
            problems.append((f"{where}.imported", f"expected null for {code}, got {imported!r}"))
    elif not isinstance(imported, str) or not imported.strip():
        problems.append((f"{where}.imported", f"expected a module name, got {imported!r}"))
    if not isinstance(statement, str) or not statement.strip():
        problems.append((f"{where}.statement", "expected a non-empty string"))
    else:
        try:
            body = ast.parse(statement).body
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            reason = getattr(exc, "msg", None) or type(exc).__name__
            problems.append((f"{where}.statement", f"not a Python statement ({reason})"))
        else:
            # What the checker writes is always one statement (or expression): a comment
            # alone or two statements could never match, so they are a bad edit, not stale.
            if len(body) != 1:
                got = "none" if not body else str(len(body))
                problems.append((f"{where}.statement", f"expected one statement, got {got}"))
    if type(count) is not int or count < 1:
        problems.append((f"{where}.count", f"expected a positive integer, got {count!r}"))
    if len(problems) > before:
        return None, None
    return Entry(code, importer, imported, statement), count


def _codes() -> str:
    return ", ".join(sorted(CODES))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _entry_lines(text: str, counts: Mapping[Entry, int]) -> dict[Entry, int]:
    """The line of each entry written one per line (as :func:`dumps` does); entries laid
    out otherwise by hand are located at line 1."""
    lines: dict[Entry, int] = {}
    for number, line in enumerate(_NEWLINES.split(text), start=1):
        row = line.strip().removesuffix(",")
        if not (row.startswith("{") and row.endswith("}")) or number == 1:
            continue
        try:
            item = json.loads(row)
        except ValueError:
            continue
        if isinstance(item, dict) and all(key in item for key in _ENTRY_KEYS):
            try:
                entry = Entry(item["code"], item["importer"], item["imported"], item["statement"])
                known = entry in counts
            except TypeError:  # an unhashable value: not one of the entries
                continue
            if known:
                lines.setdefault(entry, number)
    return lines


def judges_whole_project(
    paths: Sequence[str | os.PathLike[str]] | None, project_root: Path | None
) -> bool:
    """Whether a run over ``paths`` saw the whole project, as the checker decides it for
    allow entries: no path, or one that contains the project root."""
    if not paths:
        return True
    root = os.path.abspath(project_root) if project_root is not None else os.getcwd()
    targets = [os.path.abspath(p) for p in paths]
    return any(t == root or root.startswith(t.rstrip(os.sep) + os.sep) for t in targets)
