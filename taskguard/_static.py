"""The static checker behind ``taskguard check``.

Pipeline: discover the first-party files -> one *record* per file (from the cache, or read the
bytes, parse them, and let the sound prefilter decide whether the parsed file needs the
analysis) -> combine the records: allow entries, inline suppressions, TG004 chains, and TG005
for whatever matched nothing. Only the CLI prints; everything here returns data.

Every file is parsed by default, so a file Python cannot compile is always TG900 (fail
closed). A file the prefilter proves irrelevant only has its syntax checked, without building
a syntax tree. The fast mode (``check(prefilter=True)``, ``--fast``) does not parse such a
file at all, and with ``indirect = true`` parses the others only up to their last import.

A record is a tuple of builtins, so the cache can store it with ``marshal``::

    (status, findings, suppressions, imports)

``status``
    PARSED; FAILED (TG900: unreadable, or a file needing the analysis that does not parse);
    BROKEN (TG900: a file the prefilter proved irrelevant that does not parse; the fast mode
    reports nothing for it); SKIPPED (the fast mode did not parse it); PREFIX (the fast mode
    parsed it up to its last import). The cache hands SKIPPED and PREFIX records to the fast
    mode only, and FAILED ones to every mode but the fast one (which may parse less).
``findings``
    ``(line, column, statement_line, code, imported, message, allow_index, chain)``;
    ``column`` is 1-based in characters, ``allow_index`` is the index of the allow entry that
    excuses the finding in ``policy.allow`` (then it is no violation) or -1, ``chain`` the
    TG004 import chain (empty otherwise).
``suppressions``
    ``(line, codes, problem)`` per ``# taskguard: ignore[...]`` comment; ``problem`` is empty
    for a well-formed one, else why it suppresses nothing.
``imports``
    ``(line, column, statement_line, name)`` for every first-party or forbidden name the file
    imports (the TG004 graph); ``None`` when nobody asked for them or the file failed.

The prefilter is sound: it only rules out a file when no import statement or expression in it
can resolve to a name the policy cares about. See ``Prefilter`` for the argument.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence

from taskguard._policy import (
    SKIP_DIRS,
    Policy,
    Verdict,
    decide,
    exclude_matcher,
    load_policy,
)
from taskguard._rules import TG003, TG004, TG005, TG900, Violation

# Not ``from typing import ...``: a cached run of ``taskguard check`` does not import typing.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast
    from array import array
    from typing import Any

    from taskguard import _cache

SKIPPED = 0
PARSED = 1
FAILED = 2
BROKEN = 3
PREFIX = 4

Finding = tuple[int, int, int, str, "str | None", str, int, tuple[str, ...]]
Suppression = tuple[int, tuple[str, ...], str]
ImportRef = tuple[int, int, int, str]
Record = tuple[int, tuple[Finding, ...], tuple[Suppression, ...], "tuple[ImportRef, ...] | None"]

_SKIPPED: Record = (SKIPPED, (), (), None)
_SKIPPED_GRAPH: Record = (SKIPPED, (), (), ())
# A file the prefilter proved irrelevant that parses: nothing to report, no graph edge.
_CLEAN: Record = (PARSED, (), (), None)
_CLEAN_GRAPH: Record = (PARSED, (), (), ())
# Below this many files to analyse, forking workers costs more than it saves: in the fast
# mode (most files only searched) and when every file is parsed.
PARALLEL_THRESHOLD = 400
PARALLEL_THRESHOLD_PARSING = 200


class CheckResult:
    """What :func:`check` found: every violation (sorted) and how many files were judged."""

    __slots__ = ("files_checked", "violations")

    def __init__(self, violations: tuple[Violation, ...], files_checked: int) -> None:
        self.violations = violations
        self.files_checked = files_checked

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CheckResult):
            return NotImplemented
        return (self.violations, self.files_checked) == (other.violations, other.files_checked)

    def __hash__(self) -> int:
        return hash((self.violations, self.files_checked))

    def __repr__(self) -> str:
        return f"CheckResult(violations={self.violations!r}, files_checked={self.files_checked})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (CheckResult, (self.violations, self.files_checked))


# --------------------------------------------------------------------------- prefilter

_WORD = bytes(1 if (chr(i).isalnum() or chr(i) == "_") and i < 128 else 0 for i in range(256))


def _has_word(data: bytes, word: bytes) -> bool:
    """Whether ``word`` occurs as a whole identifier that is not an attribute (``x.word``).

    ``re . compile`` (spaces around the dot) counts as an occurrence: a superset is sound.
    """
    n = len(data)
    size = len(word)
    i = data.find(word)
    while i != -1:
        before = data[i - 1] if i else 32
        after = data[i + size] if i + size < n else 32
        if not _WORD[before] and before != 46 and not _WORD[after]:
            return True
        i = data.find(word, i + 1)
    return False


def _has_relative_import(data: bytes) -> bool:
    """Whether ``from`` is ever followed (across blanks and line continuations) by a dot."""
    n = len(data)
    i = data.find(b"from")
    while i != -1:
        j = i + 4
        while j < n:
            c = data[j]
            if c in (32, 9, 12):
                j += 1
            elif c == 92 and j + 1 < n and data[j + 1] in (10, 13):
                j += 3 if data[j + 1 : j + 3] == b"\r\n" else 2
            else:
                break
        if j < n and data[j] == 46:
            return True
        i = data.find(b"from", i + 4)
    return False


# A group: the literal segments of one pattern, and the pattern's first segment when it is
# literal (None for "*"/"**"): a relative import only ever resolves inside the importer's own
# root package, so the module name can only supply segments to patterns that can start there.
Group = tuple[tuple[str, ...], "str | None"]
# The same, ready for searching: (segment bytes, segment) pairs.
Needles = tuple[tuple[tuple[bytes, str], ...], "str | None"]
# (head, binding statements, names they bind, literal segments of the patterns below).
ChainHead = tuple[bytes, "re.Pattern[bytes]", frozenset[bytes], tuple[tuple[bytes, ...], ...]]


def _needle_groups(patterns: Iterable[str], *, exact: bool) -> tuple[Group, ...]:
    """One group per pattern; a name matching the pattern holds every segment of its group.

    A group is dropped when another, weaker one is implied by it, and the other may use the
    module name whenever it may. For substring tests that is "each of the other's segments
    is a substring of one of its own" (``google.cloud.tasks_v2`` present means
    ``google.cloud.tasks`` is present); for whole-identifier tests (``exact``) only "the
    other's segments are a subset of its own" holds: ``tasks`` is no identifier in
    ``tasks_v2``.
    """
    groups: set[Group] = set()
    for pattern in patterns:
        parts = pattern.split(".")
        segments = {s for s in parts if s not in ("*", "**")}
        first = None if parts[0] in ("*", "**") else parts[0]
        # Longest first: the most specific segment is the one most likely to be absent.
        groups.add((tuple(sorted(segments, key=lambda s: (-len(s), s))), first))
    kept: list[Group] = []
    for group in sorted(groups, key=lambda g: (len(g[0]), g[0], g[1] or "")):
        own, first = group
        implied = any(
            all((a in own) if exact else any(a in b for b in own) for a in other)
            and (other_first is None or other_first == first)
            for other, other_first in kept
        )
        if not implied:
            kept.append(group)
    return tuple(kept)


def _has_identifier(data: bytes, word: bytes) -> bool:
    """Whether ``word`` occurs in ``data`` as a whole identifier (``x.word`` included)."""
    n = len(data)
    size = len(word)
    i = data.find(word)
    while i != -1:
        if (not i or not _WORD[data[i - 1]]) and (i + size >= n or not _WORD[data[i + size]]):
            return True
        i = data.find(word, i + 1)
    return False


def _comment_free(line: bytes) -> bytes:
    # Only used on the part of a line from an ``import`` keyword on, where no string literal
    # can occur inside the statement: a '#' there starts a comment.
    return line.partition(b"#")[0]


def _find_keyword(data: bytes, word: bytes, start: int) -> int:
    """The next occurrence of ``word`` as a whole word (a keyword never touches a name)."""
    size = len(word)
    at = data.find(word, start)
    while at != -1 and (
        (at and _WORD[data[at - 1]]) or (at + size < len(data) and _WORD[data[at + size]])
    ):
        at = data.find(word, at + 1)
    return at


def _import_spans(data: bytes) -> list[tuple[int, int]] | None:
    """Byte spans of every physical line that can hold part of an import statement.

    A superset: an import statement has the ``import`` keyword on one of its lines; it
    extends backwards over lines that a backslash continues (``from a.b \\`` / ``import c``)
    and forwards over backslash continuations and, after ``import (``, until the parenthesis
    closes. Each span ends at its last newline (or the end of the data). Lines are split on
    ``\\n`` only, so a file that also ends lines with a lone ``\\r`` gives None ("all of it").
    """
    if b"\r" in data and b"\r" in data.replace(b"\r\n", b""):
        return None
    size = len(data)
    spans: list[tuple[int, int]] = []
    covered = 0
    continued = b"\\\n" in data or b"\\\r\n" in data
    at = _find_keyword(data, b"import", 0)
    while at != -1:
        start = data.rfind(b"\n", 0, at) + 1
        # Earlier lines of the same statement end with a backslash.
        while continued and start > covered and start >= 2:
            previous = data.rfind(b"\n", 0, start - 1) + 1
            if not data[previous : start - 1].rstrip().endswith(b"\\"):
                break
            start = previous
        start = max(start, covered)
        end = data.find(b"\n", at)
        end = size if end == -1 else end
        depth = 0
        if b"(" in data[at:end]:
            # The first "import" on the line may sit in a string ("import #", "import )")
            # before the real keyword. After the real one only names, commas, parentheses
            # and a comment can follow, so the deepest count over every occurrence is safe.
            occurrence = at
            while occurrence != -1:
                tail = _comment_free(data[occurrence:end])
                depth = max(depth, tail.count(b"(") - tail.count(b")"))
                occurrence = data.find(b"import", occurrence + 6, end)
        more = continued and data[start:end].rstrip().endswith(b"\\")
        while (depth > 0 or more) and end < size:
            following = data.find(b"\n", end + 1)
            following = size if following == -1 else following
            body = data[end + 1 : following]
            code = _comment_free(body)
            depth += code.count(b"(") - code.count(b")")
            more = body.rstrip().endswith(b"\\")
            end = following
        spans.append((start, end))
        covered = end
        at = _find_keyword(data, b"import", end)
    return spans


_AS_NAME = re.compile(rb"\bas[\s\\]+(\w+)")
_GETATTR_FIRST_NAME = re.compile(rb"\bgetattr[\s\\]*\([\s\\]*(\w+)")


def _chain_heads(patterns: Iterable[str]) -> tuple[ChainHead, ...]:
    """For each first segment of a module above a pattern (see _ancestors): the import
    statements that may bind a name to such a module, the names they bind, and the literal
    segments of the patterns below it.

    The statements are a superset, searched on the import region: ``import`` followed by a
    list of dotted names in which one starts with the head (``import os, urllib``), or
    ``from <parent> import`` for an ancestor of two or more segments
    (``from concurrent import futures``). Blanks include backslash continuations.
    """
    patterns = tuple(patterns)
    ancestors = _ancestors(patterns)
    blank = rb"[\s\\]"
    names = rb"(?:[\w.]+(?:%s+as%s+\w+)?%s*,%s*)*" % (blank, blank, blank, blank)
    dotted = rb"%s*\.%s*" % (blank, blank)
    found: list[ChainHead] = []
    for head in sorted({ancestor.partition(".")[0] for ancestor in ancestors}):
        mine = [a for a in ancestors if a.partition(".")[0] == head]
        alternatives = [rb"\bimport%s+%s%s(?![\w])" % (blank, names, re.escape(head.encode()))]
        for ancestor in mine:
            parent = ancestor.rpartition(".")[0]
            if parent:
                spelled = dotted.join(re.escape(part.encode()) for part in parent.split("."))
                alternatives.append(rb"\bfrom%s+%s%s+import\b" % (blank, spelled, blank))
        groups = tuple(
            tuple(part.encode() for part in pattern.split(".") if part not in ("*", "**"))
            for pattern in patterns
            if pattern.partition(".")[0] == head
        )
        found.append(
            (
                head.encode(),
                re.compile(b"|".join(alternatives)),
                frozenset(a.rpartition(".")[2].encode() for a in mine),
                groups,
            )
        )
    return tuple(found)


_AS_NAME = re.compile(rb"\bas[\s\\]+(\w+)")
_GETATTR_FIRST_NAME = re.compile(rb"\bgetattr[\s\\]*\([\s\\]*(\w+)")


class Prefilter:
    """Decides, from the raw bytes alone, whether a file needs the analysis.

    By default a file that does not is still parsed for syntax (TG900), only without the
    analysis; in the fast mode (``check(prefilter=True)``, ``--fast``) it is not parsed.

    Soundness argument. A file always needs it when it is not pure ASCII (encodings, BOM,
    NFKC-normalised identifiers such as a fullwidth ``import httpx``), when its first two
    lines hold a coding cookie (an ASCII file may still declare ``utf-7``), or when it
    mentions ``taskguard`` (suppression comments) or a word of :func:`_expressions_matter`
    (constant dynamic imports such as ``import_module``, ``__import__`` or ``resolve_name``,
    whose strings may be escaped or split, and the namespaces a lookup with a split or
    escaped key reaches them through: ``importlib``, ``builtins``, ``globals()``...).
    Otherwise every import
    in it is an import statement spelled with plain ASCII identifiers on the lines
    :func:`_import_spans` keeps. A name matches a pattern only if every literal segment of
    the pattern is a segment of the name, and each segment of the name is spelled in the
    statement or, for a relative import, comes from the file's own module name (and then the
    name starts with the file's root package). So when some literal segment of every relevant
    pattern occurs in neither place, no import in the file can match. Protected modules also
    look for the other words of :func:`_expressions_matter` (``exec``, ``zipimport``,
    ``types``...: the import binding a loader module spells its name); the graph mode
    (``indirect``) also looks for the root packages' segments and relative imports.

    One construct escapes every search of the bytes: the analysis takes a lookup of the key
    ``__builtins__`` on any object as the builtins namespace, and that key may itself be
    split or escaped (``obj["__built" "ins__"]["__imp" "ort__"]("httpx")``). A file holding
    it and none of the words above is ruled out. Catching it would mean analysing every file
    with an escape or a string concatenation (a quarter of the files of a typical
    site-packages).
    """

    def __init__(self, policy: Policy, *, graph: bool) -> None:
        self.graph = graph
        self._last_spans: tuple[bytes, list[tuple[int, int]] | None] | None = None
        # Per mode (substring / whole identifier): the groups that can make a file relevant,
        # for modules outside protected packages and for protected ones.
        self.groups: dict[tuple[bool, bool], tuple[Group, ...]] = {}
        for exact in (False, True):
            dispatch = _needle_groups(policy.dispatch_modules, exact=exact)
            forbidden = _needle_groups(policy.forbidden_in_protected, exact=exact)
            # First-party names only come from the bytes; relative imports are found apart.
            roots = tuple(
                (segments, "")
                for segments, _first in _needle_groups(policy.root_packages, exact=exact)
            )
            extra = forbidden + roots if graph else ()
            self.groups[exact, False] = dispatch + extra
            self.groups[exact, True] = dispatch + (extra or forbidden)
        # The first segments of the modules above a pattern (see _ancestors): an import
        # statement naming one may bind a name whose attribute chains reach the pattern, so
        # the file is analysed whatever else its bytes hold.
        self.chains: dict[bool, tuple[ChainHead, ...]] = {
            protected: _chain_heads(
                policy.dispatch_modules + (policy.forbidden_in_protected if protected else ())
            )
            for protected in (False, True)
        }
        self.needles: dict[tuple[bool, bool], tuple[Needles, ...]] = {
            key: tuple(
                (tuple((segment.encode(), segment) for segment in segments), first)
                for segments, first in groups
            )
            for key, groups in self.groups.items()
        }

    @staticmethod
    def _any_group(data: bytes, module: str, groups: Iterable[Needles], *, exact: bool) -> bool:
        """Whether every segment of some group occurs in ``data`` or the module name.

        ``exact`` looks for whole identifiers and whole module segments (used on the import
        region); otherwise any substring counts (a cheaper, weaker first pass).
        """
        parts: list[str] | None = None
        for segments, first in groups:
            for needle, segment in segments:
                if _has_identifier(data, needle) if exact else needle in data:
                    continue
                # Not in the bytes: a relative import may take it from the module name, but
                # only for patterns that can start at the module's root package.
                if segment not in module:
                    break
                if parts is None:
                    parts = module.split(".")
                if (first is not None and first != parts[0]) or (exact and segment not in parts):
                    break
            else:
                return True
        return False

    def _spans(self, data: bytes) -> list[tuple[int, int]] | None:
        # needs_parse and prefix_end both want them, for the same bytes, one after the other.
        last = self._last_spans
        if last is not None and last[0] is data:
            return last[1]
        spans = _import_spans(data)
        self._last_spans = (data, spans)
        return spans

    def _whole_file_needles(self, data: bytes, protected: bool) -> bool:
        """Whether something outside import statements matters: then parse all of it."""
        if not data.isascii():
            return True
        first = data.find(b"\n")
        second = data.find(b"\n", first + 1) if first != -1 else -1
        head = data if second == -1 else data[:second]
        if b"coding" in head or b"taskguard" in data:
            return True
        return self.expressions_matter(data, protected)

    def expressions_matter(self, data: bytes, protected: bool) -> bool:
        """Whether the file needs its expressions analysed, not only its import statements."""
        return _expressions_matter(data, protected, self._spans)

    def prefix_end(self, data: bytes, protected: bool) -> int | None:
        """Where a file that needs parsing may be cut: just after its last import statement.

        Only when nothing but import statements can matter (no needle of
        ``_whole_file_needles``): every import statement lies in the spans of
        :func:`_import_spans`, so the text after the last span holds none. Parsing the prefix
        gives exactly the file's import statements, or a SyntaxError (the cut fell inside a
        string or a bracket) after which the caller parses everything. None: no cut.
        """
        if self._whole_file_needles(data, protected):
            return None
        spans = self._spans(data)
        if not spans:
            return None
        # Attribute chains on an imported module live after the imports.
        region = b"\n".join(data[start:end] for start, end in spans)
        if any(
            chain[0] in data and self._chained(data, region, chain)
            for chain in self.chains[protected]
        ):
            return None
        end = spans[-1][1] + 1
        return end if end < len(data) else None

    def needs_parse(self, data: bytes, module: str, protected: bool) -> bool:
        if self._whole_file_needles(data, protected):
            return True
        # The whole file first (fast C searches); only a hit pays for cutting out the region.
        spelled = self._any_group(data, module, self.needles[False, protected], exact=False)
        chains = [chain for chain in self.chains[protected] if chain[0] in data]
        if not spelled and not chains and not (self.graph and _has_relative_import(data)):
            return False
        spans = self._spans(data)
        region = data if spans is None else b"\n".join(data[start:end] for start, end in spans)
        return (
            (spelled and self._any_group(region, module, self.needles[True, protected], exact=True))
            or (self.graph and _has_relative_import(region))
            or any(self._chained(data, region, chain) for chain in chains)
        )

    @staticmethod
    def _chained(data: bytes, region: bytes, chain: ChainHead) -> bool:
        """Whether an import may bind a name to a module above a pattern (see _ancestors),
        and an attribute chain on it may reach the pattern: every segment of a pattern below
        is spelled as an identifier, or a ``getattr()`` (whose string may be split or
        escaped) starts at a name such an import binds: the ancestor's last segment, or any
        ``as`` name of the import statements."""
        _head, binding, tails, groups = chain
        if binding.search(region) is None:
            return False
        if any(all(_has_identifier(data, segment) for segment in group) for group in groups):
            return True
        if b"getattr" not in data:
            return False
        names = {*tails, *_AS_NAME.findall(region)}
        return any(match.group(1) in names for match in _GETATTR_FIRST_NAME.finditer(data))


# --------------------------------------------------------------------------- the AST pass


def _const_str(node: ast.AST | None) -> str | None:
    """The value of a string expression Python can fold without running code, else None."""
    import ast

    if node is None:
        return None
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _const_str(node.left), _const_str(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr):
        parts = [_const_str(v) for v in node.values]
        return None if any(p is None for p in parts) else "".join(p or "" for p in parts)
    return None


def _const_names(node: ast.AST | None) -> tuple[str, ...] | None:
    """A constant ``fromlist``: a list/tuple of constant strings (or None/empty), else None."""
    import ast

    if node is None:
        return ()
    if isinstance(node, ast.Constant) and node.value is None:
        return ()
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        out = []
        for element in node.elts:
            value = _const_str(element)
            if value is None:
                return None
            out.append(value)
        return tuple(out)
    return None


def _type_checking_test(test: ast.expr) -> int:
    """1 for ``TYPE_CHECKING``/``x.TYPE_CHECKING``, -1 for their negation, else 0."""
    import ast

    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return -_type_checking_test(test.operand)
    if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
        return 1
    if isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING":
        return 1
    return 0


_BLOCKS: dict[type, tuple[str, ...]] = {}


def _blocks(kind: type) -> tuple[str, ...]:
    """The fields of a statement class that hold nested statements (or handlers/cases)."""
    try:
        return _BLOCKS[kind]
    except KeyError:
        names = tuple(
            name
            for name in getattr(kind, "_fields", ())
            if name in ("body", "orelse", "finalbody", "handlers", "cases")
        )
        _BLOCKS[kind] = names
        return names


# What a qualified name (see ``_Analyzer.qualify``) is, for the expression pass. Calls of
# these are judged by their constant module name, or TG003 in protected code otherwise.
_BY_NAME_CALLS: dict[str, str] = {
    "builtins.__import__": "__import__",
    "importlib.__import__": "__import__",
    "importlib.import_module": "import_module",
    # Finding a module imports its parent packages, and the spec or loader it returns runs
    # the module (``find_spec("httpx").loader.load_module()``): judged like an import.
    "importlib.util.find_spec": "import_module",
    "importlib.find_loader": "by_name",
    "pkgutil.get_loader": "by_name",
    "pkgutil.find_loader": "by_name",
    "pkgutil.resolve_name": "resolve_name",
    "runpy.run_module": "by_name",
}
# The keyword of the module name, for the "by_name" calls whose keyword is not ``name``.
_NAME_KEYWORDS = {
    "pkgutil.get_loader": "module_or_name",
    "pkgutil.find_loader": "fullname",
    "runpy.run_module": "mod_name",
}
# Functions that run code or load a module from a path or a loader, bypassing names: TG003
# when called or referenced in protected code.
_RUNNERS = frozenset(
    {
        "builtins.exec",
        "builtins.eval",
        "builtins.compile",
        "runpy.run_path",
        # Imports every package it finds under the given paths (to list their contents).
        "pkgutil.walk_packages",
        "importlib.util.spec_from_file_location",
        "importlib.util.spec_from_loader",
        "importlib.util.module_from_spec",
    }
)
# Private machinery behind the above.
_RUNNER_PREFIXES = ("runpy._", "importlib._bootstrap")
# Classes whose instances load code by path or are modules made outside the import system:
# TG003 when called (a reference, as a base class, annotation or isinstance() argument,
# loads nothing by itself).
_LOADER_CLASSES = frozenset(
    {
        "importlib.machinery.SourceFileLoader",
        "importlib.machinery.SourcelessFileLoader",
        "importlib.machinery.ExtensionFileLoader",
        "zipimport.zipimporter",
        "types.ModuleType",
    }
)
# Modules (and the builtins namespace) whose members a computed lookup can reach: a
# ``getattr()`` or ``[...]`` with a computed name on them is TG003 in protected code.
_LOOKUP_MODULES = frozenset(
    {
        "builtins",
        "__builtins__",
        "importlib",
        "importlib.util",
        "importlib.machinery",
        "pkgutil",
        "runpy",
        "types",
        "zipimport",
    }
)
# The mappings of ``globals()`` and ``locals()``/``vars()``: a constant key is a name lookup.
_GLOBALS = "<globals>"
_LOCALS = "<locals>"
# Modules whose names ``import`` binds are followed through aliases (``import runpy as r``).
_TRACKED_TOPS = frozenset({"builtins", "importlib", "pkgutil", "runpy", "types", "zipimport"})
# What ``from M import *`` binds that matters, per module.
_STAR_NAMES: dict[str, tuple[str, ...]] = {
    "importlib": ("__import__", "import_module"),
    "importlib.util": (
        "find_spec",
        "module_from_spec",
        "spec_from_file_location",
        "spec_from_loader",
    ),
    "importlib.machinery": ("ExtensionFileLoader", "SourceFileLoader", "SourcelessFileLoader"),
    "pkgutil": ("find_loader", "get_loader", "walk_packages"),
    "runpy": ("run_module", "run_path"),
    "types": ("ModuleType",),
    "zipimport": ("zipimporter",),
}
# Builtins the expression pass resolves (unless the module binds the name itself).
_BUILTIN_NAMES = frozenset(
    {"exec", "eval", "compile", "__import__", "getattr", "globals", "locals", "vars"}
)
# Method names that import whatever the object is (see ``_Analyzer.callee``).
_IMPORT_METHODS = {"__import__": "__import__", "import_module": "import_module"}
_FUNCTION_ROLES = frozenset({"__import__", "import_module", "by_name", "resolve_name", "runner"})


def _role(qualified: str) -> str | None:
    """What a qualified name is: a call role, "class", "lookup" (a namespace), or None."""
    role = _BY_NAME_CALLS.get(qualified)
    if role is not None:
        return role
    if qualified in _RUNNERS or qualified.startswith(_RUNNER_PREFIXES):
        return "runner"
    if qualified in _LOADER_CLASSES:
        return "class"
    if qualified in _LOOKUP_MODULES or qualified in (_GLOBALS, _LOCALS):
        return "lookup"
    return None


def _chain_calls(nodes: Iterable[ast.AST], out: list[ast.Call]) -> None:
    """Collect the outermost calls in ``nodes`` (the nodes themselves included)."""
    import ast

    pending = list(nodes)
    while pending:
        node = pending.pop()
        if type(node) is ast.Call:
            out.append(node)
        else:
            pending.extend(ast.iter_child_nodes(node))


def _shown(qualified: str) -> str:
    """A qualified name as a message shows it: builtins by their bare name."""
    if qualified == _GLOBALS:
        return "globals()"
    if qualified == _LOCALS:
        return "locals()"
    return qualified.removeprefix("builtins.")


def _ancestors(patterns: Iterable[str]) -> frozenset[str]:
    """The modules strictly above each pattern's literal leading segments.

    ``concurrent.futures.ProcessPoolExecutor`` gives ``concurrent`` and
    ``concurrent.futures``: a name bound to one of them reaches the pattern through
    attributes (``futures.ProcessPoolExecutor``) without an import statement naming it.
    """
    found: set[str] = set()
    for pattern in patterns:
        parts = pattern.split(".")
        for end in range(1, len(parts)):
            if parts[end - 1] in ("*", "**"):
                break
            found.add(".".join(parts[:end]))
    return frozenset(found)


class _Analyzer:
    """One pass over one module's statements; expressions only when the bytes ask for it."""

    def __init__(
        self,
        policy: Policy,
        module: str,
        package: str,
        *,
        walk_expressions: bool,
        graph: bool,
    ) -> None:
        self.policy = policy
        self.module = module
        self.package = package
        self.protected_by = policy.protected_by(module)
        self.sanctioned = policy.is_sanctioned(module)
        # Bound, memoised pattern lookups: called for every name every import binds.
        self.dispatch_match = policy._dispatch.first_match
        self.forbidden_match = policy._forbidden.first_match
        self.root_match = policy._roots.first_match
        self.walk_expressions = walk_expressions
        self.graph = graph
        self.ignore_type_checking = policy.type_checking == "ignore"
        self.allow_index = {entry: i for i, entry in enumerate(policy.allow)}
        self.findings: list[Finding] = []
        self.imports: list[ImportRef] = []
        self.deferred: list[tuple[ast.AST, int]] = []
        # Local names bound to tracked modules or their members, anywhere in the file
        # (``import importlib.util as iu``, ``from pkgutil import resolve_name as r``), and
        # names the module binds itself, which then shadow a builtin of the same name.
        # Flow-insensitive on purpose: a name bound to a loader anywhere counts everywhere.
        self.aliases: dict[str, str] = {}
        self.shadowed: set[str] = set()
        # Local names bound to a module above a pattern this module is judged by (see
        # _ancestors): attribute chains on them are judged like imports of what they reach.
        self.ancestors = _ancestors(
            (policy.forbidden_in_protected if self.protected_by is not None else ())
            + (() if self.sanctioned else policy.dispatch_modules)
        )
        self.prefix_aliases: dict[str, str] = {}
        self.covered: set[int] = set()
        # Per name ``import a.b.c`` binds (``a``): the names that statement was reported for.
        # An attribute chain through one of them (``google.cloud.tasks_v2.X`` after
        # ``import google.cloud.tasks_v2``) is the same import, not reported again.
        self.reported_through: dict[str, set[str]] = {}
        import ast

        # Statements nested in these are no longer module-level bindings.
        self.scopes: tuple[type, ...] = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

    # ---------------------------------------------------------------- judging names

    def judge(self, base: str, members: Sequence[str], node: Any, stmt_line: int) -> None:
        """Judge an import of ``base`` and of ``base.m`` for each member ``m``.

        A member is reported only when the base module is not already reported under the
        same code: ``from httpx import Client`` is one TG002 (for ``httpx``), while
        ``from concurrent.futures import ProcessPoolExecutor`` is one for the member.
        """
        line, col = node.lineno, node.col_offset
        names = [base, *(f"{base}.{m}" for m in members if m != "*")]
        if self.graph:
            self.record_graph_imports(names, line, col, stmt_line)
        base_verdict = self.verdict(base)
        for i, name in enumerate(names):
            verdict = base_verdict if i == 0 else self.verdict(name)
            if verdict is None or (
                i and base_verdict is not None and base_verdict.code == verdict.code
            ):
                continue
            allow = -1 if verdict.allowed_by is None else self.allow_index[verdict.allowed_by]
            self.findings.append(
                (line, col, stmt_line, verdict.code, name, verdict.message, allow, ())
            )

    def verdict(self, name: str) -> Verdict | None:
        """``decide(policy, module, name)``, asked only when a pattern can apply: the same
        answer, without a call per import name of every module in the project."""
        if (self.dispatch_match(name) is not None and not self.sanctioned) or (
            self.protected_by is not None and self.forbidden_match(name) is not None
        ):
            return decide(self.policy, self.module, name)
        return None

    def record_graph_imports(self, names: list[str], line: int, col: int, stmt_line: int) -> None:
        """Keep the names TG004 needs: first-party modules and forbidden ones.

        A forbidden member is implied by a recorded forbidden base. A sanctioned module's
        import of a dispatch library is the sanctioned path, so the forbidden names that
        statement touches on the way (``google.cloud`` for ``google.cloud.tasks_v2``) are not
        forbidden targets.
        """
        dispatch = (
            [n for n in names if self.dispatch_match(n) is not None] if self.sanctioned else []
        )
        base_recorded = False
        for i, name in enumerate(names):
            if self.root_match(name) is not None:
                self.imports.append((line, col, stmt_line, name))
                continue
            if self.forbidden_match(name) is None or (i and base_recorded):
                continue
            if any(d == name or d.startswith(name + ".") for d in dispatch):
                continue
            self.imports.append((line, col, stmt_line, name))
            base_recorded = base_recorded or i == 0

    def dynamic(self, construct: str, node: Any, stmt_line: int) -> None:
        if self.protected_by is None:
            return
        message = TG003.template.format(
            importer=self.module, protected=self.protected_by, construct=construct
        )
        self.findings.append(
            (node.lineno, node.col_offset, stmt_line, TG003.code, None, message, -1, ())
        )

    # ---------------------------------------------------------------- statements

    def run(self, tree: ast.Module) -> None:
        self.statements(tree.body, top=True)
        for root, stmt_line in self.deferred:
            self.expression(root, stmt_line)

    def statements(self, body: list[ast.stmt], *, top: bool = False) -> None:
        import ast

        scopes = self.scopes
        walk = self.walk_expressions
        for node in body:
            kind = type(node)
            if kind is ast.Import:
                self.import_(node)  # type: ignore[arg-type]
                continue
            if kind is ast.ImportFrom:
                self.import_from(node)  # type: ignore[arg-type]
                continue
            if not walk and kind is not ast.If:
                # Only statements matter: visit the nested blocks, skip every expression.
                for name in _blocks(kind):
                    value = getattr(node, name)
                    if name in ("handlers", "cases"):
                        for handler in value:
                            self.statements(handler.body)
                    else:
                        self.statements(value)
                continue
            if top:
                self.bind_top_level(node)
            if kind is ast.If:
                assert isinstance(node, ast.If)
                tc = _type_checking_test(node.test) if self.ignore_type_checking else 0
                if self.walk_expressions:
                    self.deferred.append((node.test, node.lineno))
                # The TYPE_CHECKING branch never runs, so nothing in it is imported.
                if tc != 1:
                    self.statements(node.body, top=top)
                if tc != -1:
                    self.statements(node.orelse, top=top)
                continue
            for _field, value in ast.iter_fields(node):
                if isinstance(value, list):
                    for item in value:
                        if isinstance(item, ast.stmt):
                            self.statements([item], top=top and kind not in scopes)
                        elif isinstance(item, (ast.excepthandler, ast.match_case)):
                            self.container(item, node.lineno, top=top)
                        elif self.walk_expressions and isinstance(item, ast.AST):
                            self.deferred.append((item, node.lineno))
                elif self.walk_expressions and isinstance(value, ast.AST):
                    self.deferred.append((value, node.lineno))

    def container(self, node: ast.AST, stmt_line: int, *, top: bool) -> None:
        import ast

        for _field, value in ast.iter_fields(node):
            if isinstance(value, list):
                stmts = [v for v in value if isinstance(v, ast.stmt)]
                if stmts:
                    self.statements(stmts, top=top)
                elif self.walk_expressions:
                    self.deferred.extend((v, stmt_line) for v in value if isinstance(v, ast.AST))
            elif self.walk_expressions and isinstance(value, ast.AST):
                self.deferred.append((value, stmt_line))

    def bind_top_level(self, node: ast.stmt) -> None:
        """Remember module-level definitions that shadow the builtins the pass resolves."""
        import ast

        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.shadowed.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            self.shadowed.update(t.id for t in targets if isinstance(t, ast.Name))

    def bind(self, name: str, target: str) -> None:
        """``name`` now refers to the module or member ``target`` (an absolute dotted name)."""
        if target in self.ancestors:
            self.prefix_aliases[name] = target
        if target.partition(".")[0] in _TRACKED_TOPS:
            self.aliases[name] = target
        else:
            self.shadowed.add(name)

    def import_(self, node: ast.Import) -> None:
        for alias in node.names:
            self.judge(alias.name, (), node, node.lineno)
            if alias.asname:
                self.bind(alias.asname, alias.name)
            else:
                top = alias.name.partition(".")[0]
                self.bind(top, top)
                if top in self.prefix_aliases and self.verdict(alias.name) is not None:
                    self.reported_through.setdefault(top, set()).add(alias.name)

    def import_from(self, node: ast.ImportFrom) -> None:
        from taskguard._policy import resolve_relative

        members = [alias.name for alias in node.names]
        if node.level:
            try:
                base = resolve_relative(node.module or "", self.package, node.level)
            except ImportError:
                # Beyond the top-level package: Python raises before importing anything.
                return
        else:
            base = node.module or ""
        self.judge(base, members, node, node.lineno)
        # A relative import binds first-party names, never the standard library's.
        tracked = not node.level and base.partition(".")[0] in _TRACKED_TOPS
        for alias in node.names:
            if alias.name == "*":
                for member in _STAR_NAMES.get(base, ()) if tracked else ():
                    self.aliases[member] = f"{base}.{member}"
                continue
            bound = alias.asname or alias.name
            if not node.level and f"{base}.{alias.name}" in self.ancestors:
                self.prefix_aliases[bound] = f"{base}.{alias.name}"
            if tracked:
                self.aliases[bound] = f"{base}.{alias.name}"
            else:
                self.shadowed.add(bound)

    # ---------------------------------------------------------------- expressions

    def qualify_name(self, name: str) -> str | None:
        target = self.aliases.get(name)
        if target is not None:
            return target
        if name in self.shadowed:
            return None
        if name == "__builtins__":
            return "__builtins__"
        if name in _BUILTIN_NAMES:
            return f"builtins.{name}"
        return None

    def qualify(self, node: ast.AST) -> str | None:
        """What ``node`` evaluates to, as a dotted name, when it can be told without running
        code: ``pkgutil.resolve_name`` for ``r`` after ``from pkgutil import resolve_name as
        r``, ``builtins.__import__`` for ``vars(builtins)["__import__"]``,
        ``__builtins__`` for the builtins namespace however it is reached, ``<globals>`` for
        ``globals()``. None for anything else."""
        import ast

        kind = type(node)
        if kind is ast.Name:
            return self.qualify_name(node.id)  # type: ignore[attr-defined]
        if kind is ast.Attribute:
            assert isinstance(node, ast.Attribute)
            if node.attr in ("__builtins__", "f_builtins"):
                return "__builtins__"
            return self.member(self.qualify(node.value), node.attr)
        if kind is ast.Subscript:
            assert isinstance(node, ast.Subscript)
            key = _const_str(node.slice)
            if key is None:
                return None
            return self.lookup(self.qualify(node.value), key)
        if kind is ast.Call:
            assert isinstance(node, ast.Call)
            return self.qualify_call(node)
        return None

    @staticmethod
    def member(owner: str | None, attribute: str) -> str | None:
        """``owner.attribute``; a module's ``__dict__`` stands for the module itself."""
        if owner is None or owner in (_GLOBALS, _LOCALS):
            return None
        if owner == "__builtins__":
            return owner if attribute == "__dict__" else f"builtins.{attribute}"
        return owner if attribute == "__dict__" else f"{owner}.{attribute}"

    def lookup(self, owner: str | None, key: str) -> str | None:
        """``owner[key]`` with a constant key."""
        if key == "__builtins__":
            # Any module's namespace (``f.__globals__``, ``module.__dict__``) holds it.
            return "__builtins__"
        if owner in (_GLOBALS, _LOCALS):
            return self.qualify_name(key)
        if owner in _LOOKUP_MODULES:
            return self.member(owner, key)
        return None

    def qualify_call(self, node: ast.Call) -> str | None:
        import ast

        args = node.args
        if any(isinstance(a, ast.Starred) for a in args) or node.keywords:
            return None
        func = self.qualify(node.func)
        if func == "builtins.globals" and not args:
            return _GLOBALS
        if func in ("builtins.locals", "builtins.vars") and not args:
            return _LOCALS
        if func == "builtins.vars" and len(args) == 1:
            owner = self.qualify(args[0])
            return owner if owner in _LOOKUP_MODULES else None
        if func == "builtins.getattr" and len(args) in (2, 3):
            key = _const_str(args[1])
            if key is None:
                return None
            if key == "__builtins__":
                return "__builtins__"
            return self.member(self.qualify(args[0]), key)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and args:
            # ``globals().get("__builtins__")``, ``vars(builtins).get("exec")``
            key = _const_str(args[0])
            owner = self.qualify(node.func.value)
            if key is None or owner is None or _role(owner) != "lookup":
                return None
            return self.lookup(owner, key)
        role = _BY_NAME_CALLS.get(func) if func is not None else None
        if role in ("import_module", "__import__") and func != "importlib.util.find_spec" and args:
            name = _const_str(args[0])
            if name is None or name.startswith("."):
                return None
            if role == "import_module" or (len(args) > 3 and _const_names(args[3])):
                return name
            return name.partition(".")[0]
        return None

    def expression(self, root: ast.AST, stmt_line: int) -> None:
        """Every dynamic import or code-running construct under ``root``.

        A chain that :meth:`qualify` resolves (``vars(builtins)["__import__"]``) is judged as
        a whole, once; only the calls inside it (``importlib.import_module("builtins")`` in
        ``importlib.import_module("builtins").__import__``) are looked at again, as calls.
        """
        import ast

        stack = [root]
        chained: list[ast.Call] = []
        load = ast.Load
        while stack or chained:
            if chained:
                call = chained.pop()
                callee = self.callee(call)
                if callee is not None:
                    self.call(callee[1], callee[0], call, stmt_line)
                _chain_calls([call.func, *call.args], chained)
                continue
            node = stack.pop()
            kind = type(node)
            if kind is ast.Call:
                if self.visit_call(node, stmt_line, stack, chained):  # type: ignore[arg-type]
                    continue
            elif (
                (kind is ast.Name or kind is ast.Attribute or kind is ast.Subscript)
                and type(node.ctx) is load  # type: ignore[attr-defined]
                and self.visit_reference(node, stmt_line, stack, chained)
            ):
                continue
            stack.extend(ast.iter_child_nodes(node))

    def reference(self, qualified: str, node: ast.AST, stmt_line: int) -> None:
        """A use of ``qualified`` that is not a call of it."""
        role = _role(qualified)
        if role in _FUNCTION_ROLES or qualified == "__builtins__":
            self.dynamic(f"a reference to {_shown(qualified)}", node, stmt_line)

    def visit_reference(
        self, node: ast.AST, stmt_line: int, stack: list[ast.AST], chained: list[ast.Call]
    ) -> bool:
        """Judge a name, attribute or subscript; True when its children need no visit."""
        import ast

        if self.prefix_aliases and type(node) is ast.Attribute:
            self.member_chain(node, stmt_line)
        qualified = self.qualify(node)
        if qualified is not None:
            self.reference(qualified, node, stmt_line)
            _chain_calls(ast.iter_child_nodes(node), chained)
            return True
        if isinstance(node, ast.Subscript) and _const_str(node.slice) is None:
            owner = self.qualify(node.value)
            if owner is not None and _role(owner) == "lookup":
                self.dynamic(f"a computed lookup in {_shown(owner)}", node, stmt_line)
                _chain_calls([node.value], chained)
                stack.append(node.slice)
                return True
        return False

    def visit_call(
        self, node: ast.Call, stmt_line: int, stack: list[ast.AST], chained: list[ast.Call]
    ) -> bool:
        """Judge a call; True when its children need no (further) visit."""
        import ast

        if self.prefix_aliases:
            self.member_chain(node, stmt_line)
        callee = self.callee(node)
        if callee is not None:
            self.call(callee[1], callee[0], node, stmt_line)
            if callee[0] in _IMPORT_METHODS:
                stack.append(node.func.value)  # type: ignore[attr-defined]
            else:
                _chain_calls([node.func], chained)
            stack.extend(node.args)
            stack.extend(kw.value for kw in node.keywords)
            return True
        func = self.qualify(node.func)
        computed: ast.expr | None = None
        if func == "builtins.getattr" and len(node.args) >= 2:
            owner = self.qualify(node.args[0])
            if (
                owner in _LOOKUP_MODULES
                and not isinstance(node.args[1], ast.Starred)
                and _const_str(node.args[1]) is None
            ):
                self.dynamic(f"getattr() on {_shown(owner)} with a computed name", node, stmt_line)
                computed = node.args[0]
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
            owner = self.qualify(node.func.value)
            if owner is not None and _role(owner) == "lookup" and _const_str(node.args[0]) is None:
                self.dynamic(f"a computed lookup in {_shown(owner)}", node, stmt_line)
                computed = node.func.value
        if computed is not None:
            _chain_calls([computed], chained)
            stack.extend(a for a in node.args if a is not computed)
            stack.extend(kw.value for kw in node.keywords)
            return True
        value = self.qualify_call(node)
        if value is not None:
            # getattr(importlib, "import_module") as a value, globals(), vars(builtins)...
            self.reference(value, node, stmt_line)
            _chain_calls(ast.iter_child_nodes(node), chained)
            return True
        return False

    def alias_chain(self, node: ast.AST, spine: list[int]) -> tuple[str, str, str] | None:
        """``(name, bound module, dotted name)`` for an attribute chain on a name bound to
        an ancestor module (``futures.ProcessPoolExecutor``, ``getattr(futures, "X").y``)."""
        import ast

        kind = type(node)
        if kind is ast.Name:
            name: str = node.id  # type: ignore[attr-defined]
            target = self.prefix_aliases.get(name)
            return None if target is None else (name, target, target)
        if kind is ast.Attribute:
            assert isinstance(node, ast.Attribute)
            inner = self.alias_chain(node.value, spine)
            attribute = node.attr
        elif kind is ast.Call:
            assert isinstance(node, ast.Call)
            args = node.args
            if (
                node.keywords
                or len(args) not in (2, 3)
                or any(isinstance(a, ast.Starred) for a in args)
            ):
                return None
            key = _const_str(args[1])
            if key is None or self.qualify(node.func) != "builtins.getattr":
                return None
            inner = self.alias_chain(args[0], spine)
            attribute = key
        else:
            return None
        if inner is None:
            return None
        spine.append(id(node))
        return inner[0], inner[1], f"{inner[2]}.{attribute}"

    def member_chain(self, node: ast.AST, stmt_line: int) -> None:
        """Judge the outermost attribute chain on an ancestor-bound name at ``node``.

        The shortest name along the chain the policy refuses is reported, once per chain,
        unless the bound module itself was refused, or that name was reported at the
        import statement that bound the chain's first name.
        """
        if id(node) in self.covered:
            return
        spine: list[int] = []
        found = self.alias_chain(node, spine)
        if found is None:
            return
        self.covered.update(spine)
        root, base, dotted = found
        if self.verdict(base) is not None:
            return
        parts = dotted.split(".")
        for end in range(base.count(".") + 2, len(parts) + 1):
            name = ".".join(parts[:end])
            verdict = self.verdict(name)
            if verdict is None:
                continue
            if name in self.reported_through.get(root, ()):
                return
            allow = -1 if verdict.allowed_by is None else self.allow_index[verdict.allowed_by]
            self.findings.append(
                (
                    node.lineno,  # type: ignore[attr-defined]
                    node.col_offset,  # type: ignore[attr-defined]
                    stmt_line,
                    verdict.code,
                    name,
                    verdict.message,
                    allow,
                    (),
                )
            )
            return

    def callee(self, node: ast.Call) -> tuple[str, str] | None:
        """What a call calls, as (qualified name, role), when that can import or run code.

        ``x.__import__(...)`` and ``x.import_module(...)`` count whatever ``x`` is: nothing
        else goes by those names, and ``x`` may be a module reached in a way the pass does
        not follow (``sys.modules["builtins"]``, an assignment).
        """
        import ast

        func = self.qualify(node.func)
        if func is not None:
            role = _role(func)
            return None if role is None or role == "lookup" else (func, role)
        if isinstance(node.func, ast.Attribute) and node.func.attr in _IMPORT_METHODS:
            return node.func.attr, _IMPORT_METHODS[node.func.attr]
        return None

    def call(self, role: str, func: str, node: ast.Call, stmt_line: int) -> None:
        import ast

        label = _shown(func)
        args: dict[str | None, ast.expr] = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        positional = node.args
        if any(isinstance(a, ast.Starred) for a in positional) or any(
            kw.arg is None for kw in node.keywords
        ):
            self.dynamic(f"{label}() with unpacked arguments", node, stmt_line)
            return
        if role == "import_module":
            self.call_import_module(label, positional, args, node, stmt_line)
        elif role == "__import__":
            self.call_dunder_import(label, positional, args, node, stmt_line)
        elif role == "resolve_name":
            self.call_resolve_name(label, positional, args, node, stmt_line)
        elif role == "by_name":
            keyword = _NAME_KEYWORDS.get(func, "name")
            first = positional[0] if positional else args.get(keyword)
            name = _const_str(first)
            if name is None or name.startswith("."):
                self.dynamic(f"{label}() with a non-constant name", node, stmt_line)
            else:
                self.judge(name, (), node, stmt_line)
        else:
            self.dynamic(f"{label}()", node, stmt_line)

    def call_import_module(
        self,
        label: str,
        positional: list[ast.expr],
        args: dict[str | None, ast.expr],
        node: Any,
        line: int,
    ) -> None:
        from taskguard._policy import resolve_relative

        name = _const_str(positional[0] if positional else args.get("name"))
        if name is None:
            self.dynamic(f"{label}() with a non-constant name", node, line)
            return
        if name.startswith("."):
            package_node = positional[1] if len(positional) > 1 else args.get("package")
            package = self.package_value(package_node)
            if package is None:
                self.dynamic(f"{label}() with a non-constant package", node, line)
                return
            level = len(name) - len(name.lstrip("."))
            try:
                name = resolve_relative(name[level:], package, level)
            except ImportError:
                return
        self.judge(name, (), node, line)

    def call_dunder_import(
        self,
        label: str,
        positional: list[ast.expr],
        args: dict[str | None, ast.expr],
        node: Any,
        line: int,
    ) -> None:
        import ast

        from taskguard._policy import resolve_relative

        def arg(index: int, keyword: str) -> ast.expr | None:
            return positional[index] if len(positional) > index else args.get(keyword)

        name = _const_str(arg(0, "name"))
        if name is None:
            self.dynamic(f"{label}() with a non-constant name", node, line)
            return
        fromlist = _const_names(arg(3, "fromlist"))
        level_node = arg(4, "level")
        level: int | None = 0
        if level_node is not None:
            level = (
                level_node.value
                if isinstance(level_node, ast.Constant) and type(level_node.value) is int
                else None
            )
        if fromlist is None or level is None:
            self.dynamic(f"{label}() with a non-constant fromlist or level", node, line)
            fromlist = fromlist or ()
            if level is None:
                return
        if level:
            try:
                name = resolve_relative(name, self.package, level)
            except ImportError:
                return
        self.judge(name, fromlist, node, line)

    def call_resolve_name(
        self,
        label: str,
        positional: list[ast.expr],
        args: dict[str | None, ast.expr],
        node: Any,
        line: int,
    ) -> None:
        """``pkgutil.resolve_name("pkg.mod:attr")`` or ``("pkg.mod.attr")``.

        With a colon, ``pkg.mod`` is imported and ``attr`` looked up on it: judged like
        ``from pkg.mod import attr``. Without one, Python imports the longest importable
        prefix and looks the rest up as attributes; the shortest prefix the policy forbids is
        the import reported (``httpx.Client`` is ``httpx``).
        """
        name = _const_str(positional[0] if positional else args.get("name"))
        if name is None:
            self.dynamic(f"{label}() with a non-constant name", node, line)
            return
        module, colon, rest = name.partition(":")
        if colon:
            self.judge(module, [rest.partition(".")[0]] if rest else [], node, line)
            return
        parts = name.split(".")
        prefixes = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
        self.judge(next((p for p in prefixes if self.verdict(p)), name), (), node, line)

    def package_value(self, node: ast.expr | None) -> str | None:
        import ast

        if isinstance(node, ast.Name) and node.id == "__package__":
            return self.package
        if isinstance(node, ast.Name) and node.id == "__name__":
            return self.module
        return _const_str(node)


# --------------------------------------------------------------------------- suppressions


def _suppressions(data: bytes) -> tuple[Suppression, ...]:
    """Every ``# taskguard: ...`` comment, found with the tokenizer so strings never count."""
    import io
    import re
    import tokenize

    from taskguard._rules import RULES

    pattern = re.compile(
        r"#\s*taskguard\s*:\s*(?P<verb>\w*)\s*(?:\[(?P<codes>[^\]]*)\])?\s*"
        r"(?:--\s*(?P<reason>.*?))?\s*$"
    )
    out: list[Suppression] = []
    try:
        tokens = list(tokenize.tokenize(io.BytesIO(data).readline))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):  # pragma: no cover
        return ()
    for token in tokens:
        if token.type != tokenize.COMMENT or "taskguard" not in token.string:
            continue
        match = pattern.match(token.string)
        if match is None:
            continue
        line = token.start[0]
        verb, raw_codes, reason = match.group("verb", "codes", "reason")
        codes = tuple(c.strip().upper() for c in (raw_codes or "").split(",") if c.strip())
        problem = ""
        if verb != "ignore":
            problem = f"unknown directive 'taskguard: {verb}' (expected 'taskguard: ignore')"
        elif not codes:
            problem = "no codes: write '# taskguard: ignore[TG002] -- reason'"
        elif unknown := [c for c in codes if c not in RULES]:
            problem = f"unknown code {', '.join(unknown)}"
        elif not reason:
            problem = "no reason: write '-- why this is fine' after the codes"
        out.append((line, codes, problem))
    return tuple(out)


# --------------------------------------------------------------------------- one file


def _char_columns(data: bytes, findings: list[Any]) -> list[Any]:
    """Turn the parser's UTF-8 byte offsets (item 1 of each tuple) into 1-based columns."""
    if data.isascii():
        return [(f[0], f[1] + 1, *f[2:]) for f in findings]
    import io
    import re
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):  # pragma: no cover - it parsed
        return [(f[0], f[1] + 1, *f[2:]) for f in findings]
    text = text.removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)
    out = []
    for f in findings:
        line = lines[f[0] - 1] if 0 < f[0] <= len(lines) else ""
        column = len(line.encode("utf-8")[: f[1]].decode("utf-8", "replace")) + 1
        out.append((f[0], column, *f[2:]))
    return out


def _failure(failure: BaseException) -> tuple[int, int, str]:
    """(line, column, reason) of a parse failure, as TG900 reports it."""
    line = getattr(failure, "lineno", None) or 1
    column = getattr(failure, "offset", None) or 1
    reason = getattr(failure, "msg", None) or str(failure) or type(failure).__name__
    return (line, column, str(reason))


def _failed(failure: tuple[int, int, str], path: str, status: int = FAILED) -> Record:
    line, column, reason = failure
    message = TG900.template.format(action="parse", path=path, error=reason)
    return (status, ((line, column, line, TG900.code, None, message, -1, ()),), (), None)


# What a parse can raise for a file Python cannot compile: SyntaxError (decode errors and
# unknown coding cookies included), ValueError (a NUL byte, before 3.12), RecursionError (too
# deeply nested), MemoryError.
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


def _syntax_exception(data: bytes, display: str) -> BaseException | None:
    """Why ``data`` does not parse, or None: ``ast.parse``'s verdict, without its tree.

    Building the syntax tree's Python objects costs about as much as parsing does, and a
    file the prefilter proves irrelevant needs no tree. The symbol-table pass runs the same
    parser (same decoding, coding cookies and BOM) and keeps only a small table, so it is the
    cheap test. It also rejects some programs that parse but do not compile (a duplicate
    argument, ``nonlocal`` at module level, ``import *`` in a function); for those, and for
    any failure, ``ast.parse`` decides, so the answer is exactly that of a full parse. (The
    two nesting limits near 3,000 levels differ by a few levels; ``ast.parse``'s own limit
    already moves with the caller's stack depth.)
    """
    import ast

    try:
        import _symtable  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - not CPython
        pass
    else:
        try:
            _symtable.symtable(data, display, "exec")
        except _PARSE_ERRORS:
            pass
        else:
            return None
    try:
        ast.parse(data, display)
    except _PARSE_ERRORS as error:
        return error
    return None


def _syntax_error(data: bytes, display: str) -> tuple[int, int, str] | None:
    """(line, column, reason) of :func:`_syntax_exception`, or None when ``data`` parses."""
    error = _syntax_exception(data, display)
    return None if error is None else _failure(error)


class _SyntaxMemo:
    """:func:`_syntax_error` remembered by a digest of the bytes (``syntax-*.bin``).

    The verdict depends on the bytes and the Python build only, so it survives what starts a
    fresh record cache: a policy change, an upgrade of taskguard, a file touched but not
    changed. ``learned`` collects the new verdicts for the caller to store.
    """

    __slots__ = ("known", "learned")

    def __init__(self, known: dict[bytes, tuple[int, int, str] | None]) -> None:
        self.known = known
        self.learned: list[tuple[bytes, tuple[int, int, str] | None]] = []

    def check(self, data: bytes, display: str) -> tuple[int, int, str] | None:
        from taskguard._cache import digest

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


# What makes the expression pass necessary, because an expression (not only an import
# statement) holding it can import or run code. In every module (a constant dynamic import of
# a dispatch library is TG001 anywhere): the name of a function that imports by name, ending
# as a word (``import_modules`` is another name). One search: it finds the "_" in each name,
# then what surrounds it, several times faster than looking for each name in turn ...
_CALL_NAMES = (
    b"__import__",
    b"import_module",
    b"resolve_name",
    b"run_module",
    b"find_spec",
    b"get_loader",
    b"find_loader",
)
_CALL_PATTERN = (
    b"_(?:"
    + b"|".join(
        rb"_import__"
        if name == b"__import__"
        else b"(?<=" + name.partition(b"_")[0] + b"_)" + name.partition(b"_")[2] + rb"\b"
        for name in _CALL_NAMES
    )
    + b")"
)
# ... and the namespaces through which a lookup with a computed constant key reaches such a
# function (``getattr(importlib, "import_" "module")``, ``globals()["__imp" "ort__"]``): the
# key's text may be split or escaped, the namespace's name may not (``builtins`` also covers
# ``__builtins__`` and ``f_builtins``) ...
_NAMESPACE_WORDS = (b"builtins", b"importlib", b"pkgutil", b"runpy")
_NAMESPACE_NAMES = (b"globals", b"locals", b"vars")
# ... and in protected modules: zipimport, the builtins that run code used as bare names, and
# ``types``, a common word, which only counts in import statements (nothing else can bind the
# module to a name, short of a dynamic import, which the words above catch).
_PROTECTED_WORDS = (b"zipimport",)
_PROTECTED_NAMES = (b"exec", b"eval", b"compile")
_IMPORTED_WORDS = (b"types",)
_CALLS: list[re.Pattern[bytes]] = []


def _calls() -> re.Pattern[bytes]:
    # Compiled on first use: a cached run never needs it.
    if not _CALLS:
        _CALLS.append(re.compile(_CALL_PATTERN))
    return _CALLS[0]


def _expressions_matter(
    data: bytes, protected: bool, spans: Callable[[bytes], list[tuple[int, int]] | None]
) -> bool:
    """Whether some expression in the file could be a dynamic import or run code.

    Non-ASCII text can spell any identifier (NFKC), so it always counts. ``spans`` gives the
    byte spans of the file's import statements (:func:`_import_spans`).
    """
    if (
        not data.isascii()
        or _calls().search(data) is not None
        or any(word in data for word in _NAMESPACE_WORDS)
        or any(_has_word(data, word) for word in _NAMESPACE_NAMES)
    ):
        return True
    if not protected:
        return False
    if any(word in data for word in _PROTECTED_WORDS) or any(
        _has_word(data, word) for word in _PROTECTED_NAMES
    ):
        return True
    imported = [word for word in _IMPORTED_WORDS if word in data]
    if not imported:
        return False
    found = spans(data)
    region = data if found is None else b"\n".join(data[start:end] for start, end in found)
    return any(_has_identifier(region, word) for word in imported)


def analyze_source(
    data: bytes,
    module: str,
    is_package: bool,
    policy: Policy,
    *,
    prefilter: Prefilter | None,
    graph: bool,
    fast: bool = False,
    display: str = "<source>",
) -> Record:
    """The record of one module's source bytes (see the module docstring).

    ``prefilter`` None is the reference analysis: every statement and expression of the
    parsed file. Otherwise the prefilter decides from the bytes whether the file can hold
    anything relevant; one that cannot is only checked for syntax (TG900) or, with ``fast``,
    not parsed at all.
    """
    with _WarningsIgnored():
        return _analyze_source(data, module, is_package, policy, prefilter, graph, fast, display)


class _WarningsIgnored:
    """Every warning ignored inside the block (a class: the cached run imports no contextlib).

    SyntaxWarnings (invalid escapes...) are the file's business, and under ``-W error`` they
    would turn into SyntaxErrors in the parser.
    """

    __slots__ = ("_saved",)

    def __enter__(self) -> None:
        import warnings

        self._saved = warnings.catch_warnings()
        self._saved.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc: object) -> None:
        self._saved.__exit__(None, None, None)


def _analyze_source(  # noqa: PLR0917 - private, called once per file
    data: bytes,
    module: str,
    is_package: bool,
    policy: Policy,
    prefilter: Prefilter | None,
    graph: bool,
    fast: bool,
    display: str,
    syntax: _SyntaxMemo | None = None,
) -> Record:
    """:func:`analyze_source`, with warnings already silenced by the caller.

    ``syntax`` remembers the syntax check of files that only need one.
    """
    protected = policy.is_protected(module)
    if prefilter is not None and not prefilter.needs_parse(data, module, protected):
        if fast:
            return _SKIPPED_GRAPH if graph else _SKIPPED
        failed = _syntax_error(data, display) if syntax is None else syntax.check(data, display)
        if failed is not None:
            return _failed(failed, display, BROKEN)
        return _CLEAN_GRAPH if graph else _CLEAN
    import ast

    tree: ast.Module | None = None
    status = PARSED
    # The fast mode's TG004 graph may parse a file only up to its last import statement
    # (see Prefilter.prefix_end): a syntax error after it then goes unreported.
    cut = prefilter.prefix_end(data, protected) if prefilter and fast and graph else None
    if cut is not None:
        try:
            tree = ast.parse(data[:cut], display)
            status = PREFIX
        except _PARSE_ERRORS:
            pass
    if tree is None:
        try:
            tree = ast.parse(data, display)
        except _PARSE_ERRORS as error:
            return _failed(_failure(error), display)
    package = module if is_package else module.rpartition(".")[0]
    walk = prefilter is None or prefilter.expressions_matter(data, protected)
    analyzer = _Analyzer(policy, module, package, walk_expressions=walk, graph=graph)
    analyzer.run(tree)
    if not walk and analyzer.prefix_aliases:
        # A name bound to a module above a pattern: its attribute chains need the
        # expression pass after all (rare; the statement pass is what finds out).
        analyzer = _Analyzer(policy, module, package, walk_expressions=True, graph=graph)
        analyzer.run(tree)
    findings = _char_columns(data, analyzer.findings)
    suppressions = _suppressions(data) if b"taskguard" in data else ()
    imports = tuple(_char_columns(data, analyzer.imports)) if graph else None
    return (status, tuple(findings), suppressions, imports)


def _unreadable(display: str, exc: OSError) -> Record:
    message = TG900.template.format(action="read", path=display, error=exc.strerror or exc)
    return (FAILED, ((1, 1, 1, TG900.code, None, message, -1, ()),), (), None)


# --------------------------------------------------------------------------- discovery


class SourceFile:
    """One first-party file that needs analysing or reporting."""

    __slots__ = ("mtime_ns", "package", "path", "rel", "size", "stem")

    def __init__(  # noqa: PLR0917 - built in one hot loop, positionally for speed
        self, path: str, rel: str, package: str, stem: str, mtime_ns: int, size: int
    ) -> None:
        self.path = path  # absolute
        self.rel = rel  # relative to the project root, '/'-separated: the cache key
        self.package = package  # the dotted package the file lives in ("" at the top)
        self.stem = stem  # the file name without ".py"
        self.mtime_ns = mtime_ns
        self.size = size

    @property
    def is_package(self) -> bool:
        return self.stem == "__init__"

    @property
    def module(self) -> str:
        if self.stem == "__init__":
            return self.package
        return f"{self.package}.{self.stem}" if self.package else self.stem

    def __repr__(self) -> str:
        return f"SourceFile({self.rel!r}, module={self.module!r})"


def module_name(rel: str, policy: Policy) -> tuple[str, bool] | None:
    """The dotted module name of a project-relative ``.py`` path, and whether it is a package.

    Names are taken relative to the project root, or to ``src/`` for a src layout.
    """
    parts = rel[:-3].split("/")
    if parts[0] == "src" and len(parts) > 1 and not policy.is_first_party("src"):
        parts = parts[1:]
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    if not parts or not all(parts):
        return None
    return ".".join(parts), is_package


def _top_level_names(policy: Policy) -> frozenset[str] | None:
    """First segments a root package can start with, or None when a pattern starts with *."""
    firsts = {p.split(".", 1)[0] for p in policy.root_packages}
    if any(f in ("*", "**") for f in firsts):
        return None
    return frozenset(firsts)


_SCANDIR_FD = os.scandir in os.supports_fd and hasattr(os, "O_DIRECTORY")
# The judged files of one directory: (directory, package, names, stats, complete). ``stats``
# holds _cache.STAMPS integers per name: mtime_ns, ctime_ns and size (size -1: the file could
# not be stat'ed; reading it then reports TG900). ``complete``: every judged file of the
# directory is listed (False for a file given on the command line).
Listing = tuple[str, str, list[str], list[int], bool]
_STAMPS = 3  # _cache.STAMPS, without importing the cache module for a --no-cache run


def _describe(
    entries: Iterable[os.DirEntry[Any]],
) -> tuple[list[tuple[str, bool]], list[str], list[int]]:
    """(subdirectories as (name, is_symlink), ``.py`` names, their stamps) of a listing.

    This loop runs once per file of the project on every run, cached or not: it does no
    more than the stat it needs.
    """
    subdirs: list[tuple[str, bool]] = []
    names: list[str] = []
    stats: list[int] = []
    for entry in entries:
        name = entry.name
        try:
            if entry.is_dir():
                subdirs.append((name, entry.is_symlink()))
                continue
        except OSError:  # pragma: no cover - racing deletion
            continue
        if name.endswith(".py"):
            names.append(name)
            try:
                st = entry.stat()
            except OSError:
                stats += (0, 0, -1)
            else:
                stats += (st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    return subdirs, names, stats


def _list_directory(
    directory: str,
) -> tuple[list[tuple[str, bool]], list[str], list[int], tuple[int, int]]:
    """:func:`_describe` of ``directory``, and the directory's (device, inode).

    Listed through a descriptor where the platform allows it, so that each file's stat is an
    ``fstatat`` relative to the directory instead of a walk down the whole path again; every
    call that needs the descriptor happens before it is closed.
    """
    if not _SCANDIR_FD:
        st = os.stat(directory)
        with os.scandir(directory) as it:
            return (*_describe(it), (st.st_dev, st.st_ino))
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        st = os.fstat(fd)
        with os.scandir(fd) as it:
            return (*_describe(it), (st.st_dev, st.st_ino))
    finally:
        os.close(fd)


def _walk(targets: Sequence[str], policy: Policy, root: str) -> Iterator[tuple[str, Listing]]:
    """``(rel_dir, listing)`` for each directory holding first-party files under ``targets``.

    ``rel_dir`` is relative to ``root``, '/'-separated. A directory reachable from two targets
    is yielded twice (see :func:`_collect`). Skips SKIP_DIRS, hidden directories and
    ``exclude`` globs (a target inside an excluded directory included); follows symlinked
    directories, after every real one, and never into a directory already walked (so no
    loops, and a file reachable both ways keeps the name of its real location).
    """
    firsts = _top_level_names(policy)
    excluded = exclude_matcher(policy.exclude)
    # A file matching "<glob>/**" lies in a directory matching it, which is never entered:
    # only the other globs need testing per file.
    file_globs = tuple(g for g in policy.exclude if not g.endswith("/**"))
    excluded_file = exclude_matcher(file_globs) if file_globs else None
    src_layout = not policy.is_first_party("src")
    seen_dirs: set[tuple[int, int]] = set()

    def relpath(path: str) -> str | None:
        rel = os.path.relpath(path, root)
        if rel == os.curdir:
            return ""
        if rel.startswith(os.pardir + os.sep) or rel == os.pardir or os.path.isabs(rel):
            return None
        return rel.replace(os.sep, "/")

    def package_of(rel_dir: str) -> str:
        parts = rel_dir.split("/") if rel_dir else []
        if parts[:1] == ["src"] and src_layout:
            parts = parts[1:]
        return ".".join(parts)

    def inside_excluded(rel: str) -> bool:
        parts = rel.split("/") if rel else []
        return any(excluded("/".join(parts[: i + 1]), True) for i in range(len(parts)))

    for target in targets:
        rel_target = relpath(target)
        if rel_target is None or inside_excluded(rel_target):
            continue
        if os.path.isfile(target):
            if not target.endswith(".py") or excluded(rel_target, False):
                continue
            named = module_name(rel_target, policy)
            if named is not None and policy.is_first_party(named[0]):
                st = os.stat(target)
                module, is_package = named
                package = module if is_package else module.rpartition(".")[0]
                rel_dir, _, name = rel_target.rpartition("/")
                stats = [st.st_mtime_ns, st.st_ctime_ns, st.st_size]
                yield rel_dir, (os.path.dirname(target), package, [name], stats, False)
            continue
        pending = [(target, rel_target)]
        linked: list[tuple[str, str]] = []
        while pending or linked:
            directory, rel_dir = pending.pop() if pending else linked.pop(0)
            try:
                found_dirs, names, stats, key = _list_directory(directory)
            except OSError:
                continue
            if key in seen_dirs:
                continue
            seen_dirs.add(key)
            package = package_of(rel_dir)
            package_first_party = bool(package) and policy.is_first_party(package)
            # Below the project root (or src/), only directories a root package can live in.
            allowed_top = firsts if firsts is not None and not package else None
            prefix = f"{rel_dir}/" if rel_dir else ""
            subdirs: list[tuple[str, str]] = []
            for name, is_link in found_dirs:
                rel = prefix + name
                if (
                    name in SKIP_DIRS
                    or name.startswith(".")
                    or (
                        allowed_top is not None
                        and name not in allowed_top
                        and not (name == "src" and not rel_dir)
                    )
                    or excluded(rel, True)
                ):
                    continue
                (linked if is_link else subdirs).append((f"{directory}{os.sep}{name}", rel))
            pending.extend(reversed(subdirs))
            if names and (not package_first_party or excluded_file is not None):
                kept: list[str] = []
                kept_stats: list[int] = []
                for i, name in enumerate(names):
                    stem = name[:-3]
                    if stem == "__init__":
                        if not package_first_party:
                            continue
                    elif not package_first_party and not policy.is_first_party(
                        f"{package}.{stem}" if package else stem
                    ):
                        continue
                    if excluded_file is not None and excluded_file(prefix + name, False):
                        continue
                    kept.append(name)
                    kept_stats += stats[_STAMPS * i : _STAMPS * i + _STAMPS]
                names, stats = kept, kept_stats
            if names:
                yield rel_dir, (directory, package, names, stats, True)


def _collect(walk: Iterable[tuple[str, Listing]], into: dict[str, Listing]) -> dict[str, Listing]:
    """Listings by directory; one reached twice (overlapping targets) lists every file once."""
    for rel_dir, listing in walk:
        previous = into.get(rel_dir)
        if previous is None:
            into[rel_dir] = listing
            continue
        directory, package, names, stats, complete = previous
        names, stats = list(names), list(stats)
        known = set(names)
        for i, name in enumerate(listing[2]):
            if name not in known:
                names.append(name)
                stats += listing[3][_STAMPS * i : _STAMPS * i + _STAMPS]
        into[rel_dir] = (directory, package, names, stats, complete or listing[4])
    return into


# --------------------------------------------------------------------------- analysis runs

# How files are analysed: the policy, the prefilter (None: the reference analysis), whether
# TG004's graph is built, whether the fast mode skips parsing irrelevant files, and the memo
# of syntax checks (None: no cache).
Job = tuple[Policy, "Prefilter | None", bool, bool, "_SyntaxMemo | None"]
_WORKER: Job | None = None


def _display(path: str, cwd: str) -> str:
    """``path`` relative to the working directory, '/'-separated (absolute on another drive)."""
    try:
        rel = os.path.relpath(path, cwd)
    except ValueError:  # pragma: no cover - Windows, another drive
        rel = path
    return rel.replace(os.sep, "/")


def _displayer(root: str, cwd: str) -> Callable[[str], str]:
    """Project-relative path -> path relative to the working directory."""
    base = _display(root, cwd)
    if base == os.curdir:
        return lambda rel: rel
    if not base.startswith(os.pardir):
        return lambda rel: f"{base}/{rel}"
    # The working directory is inside the project or beside it: let relpath walk it.
    return lambda rel: _display(os.path.join(root, rel), cwd)


_O_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def _read(path: str, size: int) -> bytes:
    # Raw descriptor reads: a buffered file object costs more than the read itself here.
    fd = os.open(path, _O_FLAGS)
    try:
        data = os.read(fd, size + 1) if size >= 0 else b""
        if size < 0 or len(data) > size:  # unknown size, or the file grew since stat
            chunks = [data]
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data
    finally:
        os.close(fd)


def _analyze_file(item: tuple[str, str, str, bool, int], job: Job) -> Record:
    path, display, module, is_package, size = item
    try:
        data = _read(path, size)
    except OSError as exc:
        return _unreadable(display, exc)
    policy, prefilter, graph, fast, syntax = job
    return _analyze_source(
        data, module, is_package, policy, prefilter, graph, fast, display, syntax
    )


Learned = list[tuple[bytes, "tuple[int, int, str] | None"]]


def _worker(chunk: list[tuple[str, str, str, bool, int]]) -> tuple[list[Record], Learned]:
    assert _WORKER is not None
    job = _WORKER
    # A forked worker only ever allocates acyclic trees and records: the cyclic collector
    # would only walk them over and over (a fifth to a half of the parse time).
    import gc

    gc.disable()
    with _WarningsIgnored():
        records = [_analyze_file(item, job) for item in chunk]
    syntax = job[4]
    if syntax is None:
        return records, []
    # A worker process runs several chunks: hand each verdict back once.
    learned, syntax.learned = syntax.learned, []
    return records, learned


def _can_fork() -> bool:
    # Forking a process that runs other threads can deadlock the child; only fork when
    # this process has exactly one thread (counted by the OS, so C-level threads count).
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _pause_collector() -> bool:
    """Turn the cyclic garbage collector off; returns whether it was on.

    Parsing allocates many objects and no cycles, so collections during it cost time and
    free nothing.
    """
    import gc

    enabled = gc.isenabled()
    gc.disable()
    return enabled


def _resume_collector(enabled: bool) -> None:
    if enabled:
        import gc

        gc.enable()


def _analyze_all(
    items: list[tuple[str, str, str, bool, int]], job: Job, jobs: int | None
) -> list[Record]:
    """The record of every item; new syntax verdicts are added to ``job``'s memo."""
    if jobs is None:
        # Parsing a file for syntax costs ~20 times what the prefilter alone costs, so
        # workers pay from fewer files when every file is parsed.
        threshold = PARALLEL_THRESHOLD if job[3] else PARALLEL_THRESHOLD_PARSING
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        jobs = min(cpus, 8) if len(items) >= threshold and _can_fork() else 1
    if jobs <= 1 or len(items) < 2 or not _can_fork():
        enabled = _pause_collector()
        try:
            with _WarningsIgnored():
                return [_analyze_file(item, job) for item in items]
        finally:
            _resume_collector(enabled)
    import multiprocessing

    global _WORKER
    # Largest files first and small chunks handed out as workers free up: the last chunks
    # are small files, so no worker is left parsing alone for long at the end.
    order = sorted(range(len(items)), key=lambda i: -items[i][4])
    size = max(8, len(items) // (jobs * 32))
    chunks = [[items[i] for i in order[k : k + size]] for k in range(0, len(order), size)]
    _WORKER = job
    try:
        pool = multiprocessing.get_context("fork").Pool(jobs)
        try:
            results = pool.map(_worker, chunks, chunksize=1)
        finally:
            pool.close()
            pool.join()
    finally:
        _WORKER = None
    syntax = job[4]
    if syntax is not None:
        for _records, learned in results:
            syntax.learned.extend(learned)
    out: list[Record] = [_SKIPPED] * len(items)
    for i, record in zip(order, (r for records, _learned in results for r in records), strict=True):
        out[i] = record
    return out


# --------------------------------------------------------------------------- TG004


def _parents(name: str) -> Iterator[str]:
    while "." in name:
        name = name.rpartition(".")[0]
        yield name


def _indirect(
    policy: Policy,
    graph_records: dict[str, Record],
    origins: Iterable[str],
) -> dict[str, list[Finding]]:
    """TG004 findings per origin module: protected modules reaching a forbidden module.

    The graph holds first-party modules; importing ``a.b.c`` also runs the ``__init__`` of
    ``a.b`` and ``a`` (unless they are the importer's own packages). One finding per origin
    and forbidden name, at the import that starts the shortest chain. A sanctioned module
    importing a dispatch library is the sanctioned path, not a violation.
    """
    edges: dict[str, dict[str, ImportRef]] = {}
    sources: dict[str, set[str]] = {}
    direct: dict[str, set[str]] = {}
    for module, record in graph_records.items():
        out: dict[str, ImportRef] = {}
        ancestors = set(_parents(module))
        for ref in record[3] or ():
            name = ref[3]
            if policy.is_forbidden_in_protected(name):
                direct.setdefault(module, set()).add(name)
                if not (policy.is_sanctioned(module) and policy.is_dispatch_module(name)):
                    sources.setdefault(name, set()).add(module)
            for target in (name, *_parents(name)):
                if target in graph_records and target != module and target not in ancestors:
                    previous = out.get(target)
                    if previous is None or ref[:2] < previous[:2]:
                        out[target] = ref
        edges[module] = out
    if not sources:
        return {}
    reverse: dict[str, list[str]] = {}
    for module, out in edges.items():
        for target in out:
            reverse.setdefault(target, []).append(module)
    # Per forbidden name: distance and next hop of every module that reaches it.
    hops: dict[str, dict[str, str | None]] = {}
    for name, importers in sources.items():
        nxt: dict[str, str | None] = dict.fromkeys(importers)
        frontier = sorted(importers)
        while frontier:
            following = []
            for node in frontier:
                for importer in sorted(reverse.get(node, ())):
                    if importer not in nxt:
                        nxt[importer] = node
                        following.append(importer)
            frontier = following
        hops[name] = nxt

    def chain(start: str, name: str) -> list[str]:
        out = [start]
        step = hops[name][start]
        while step is not None:
            out.append(step)
            step = hops[name][step]
        return out

    results: dict[str, list[Finding]] = {}
    for origin in origins:
        if origin not in edges or not policy.is_protected(origin):
            continue
        mine = direct.get(origin, set())
        for name, nxt in sorted(hops.items()):
            if name in mine:
                continue  # the direct import is TG002's business
            best: tuple[int, int, str] | None = None
            for target, ref in edges[origin].items():
                if target in nxt:
                    length = len(chain(target, name))
                    candidate = (length, ref[0], target)
                    if best is None or candidate < best:
                        best = candidate
            if best is None:
                continue
            path = [origin, *chain(best[2], name), name]
            ref = edges[origin][best[2]]
            verdict = decide(policy, origin, name)
            allow = (
                -1
                if verdict is None or verdict.allowed_by is None
                else policy.allow.index(verdict.allowed_by)
            )
            message = TG004.template.format(importer=origin, imported=name, chain=" -> ".join(path))
            results.setdefault(origin, []).append(
                (ref[0], ref[1], ref[2], TG004.code, name, message, allow, tuple(path))
            )
    return results


# --------------------------------------------------------------------------- check()


def _allow_lines(policy: Policy) -> list[int]:
    """The line of each ``[[tool.taskguard.allow]]`` entry in the policy file (best effort)."""
    import re

    if policy.source is None:
        return [1] * len(policy.allow)
    try:
        text = policy.source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return [1] * len(policy.allow)
    lines = [
        text.count("\n", 0, m.start()) + 1
        for m in re.finditer(r"(?m)^[ \t]*\[\[[ \t]*tool\.taskguard\.allow[ \t]*\]\]", text)
    ]
    if len(lines) != len(policy.allow):
        found = re.search(r"(?m)^[ \t]*allow[ \t]*=", text)
        first = text.count("\n", 0, found.start()) + 1 if found else 1
        lines = [first] * len(policy.allow)
    return lines


def _serve(hit: Record, mode: str, skipped: Record) -> Record | None:
    """What a cached record gives ``mode``: itself, another record, or None (analyse again).

    The fast mode leaves some files unparsed (SKIPPED) or parsed up to their last import
    (PREFIX): no answer for the other modes. It would not have parsed a file that is only
    checked for syntax (BROKEN), and it may parse less of a file that failed (FAILED).
    """
    status = hit[0]
    if mode != FAST:
        return None if status in (SKIPPED, PREFIX) else hit
    if status == BROKEN:
        return skipped
    if status == FAILED:
        return None
    return hit


class _Rewrite:
    """A directory whose cache entry changes: its listing, and the record kept per file."""

    __slots__ = ("complete", "kept", "names", "stats")

    def __init__(self, names: list[str], stats: array[int], complete: bool) -> None:
        self.names = names
        self.stats = stats
        self.complete = complete
        # The record to store for names[i]; None: store nothing (not analysed yet, or racy).
        self.kept: list[Record | None] = [None] * len(names)


def _store(
    root: str,
    fingerprint: str,
    cached: _cache.Entries,
    rewrites: dict[str, _Rewrite],
    present: dict[str, Listing] | None,
) -> None:
    """Write the changed directories into the cache; ``present`` (a whole-project run)
    also drops the directories that are gone."""
    from array import array

    from taskguard import _cache

    dirs = dict(cached.dirs)
    changed = False
    if present is not None:
        for rel_dir in [rel_dir for rel_dir in dirs if rel_dir not in present]:
            del dirs[rel_dir]
            changed = True
    for rel_dir, rewrite in rewrites.items():
        names: list[str] = []
        stats = array("q")
        records: list[Record] = []
        for i, record in enumerate(rewrite.kept):
            if record is not None:
                names.append(rewrite.names[i])
                stats.extend(rewrite.stats[_STAMPS * i : _STAMPS * i + _STAMPS])
                records.append(record)
        old = dirs.get(rel_dir)
        if old is not None and not rewrite.complete:
            # Only some files of the directory were checked: keep what is known of the rest.
            listed = set(rewrite.names)
            old_stats = array("q")
            old_stats.frombytes(old[1])
            for i, name in enumerate(old[0]):
                if name not in listed:
                    names.append(name)
                    stats.extend(old_stats[_STAMPS * i : _STAMPS * i + _STAMPS])
                    records.append(old[3][i] if i in old[3] else old[2])
        entry = _cache.pack(names, stats, records) if names else None
        if entry is None:
            changed = dirs.pop(rel_dir, None) is not None or changed
        elif entry != old:
            dirs[rel_dir] = entry
            changed = True
    if changed:
        _cache.save(root, fingerprint, _cache.Entries(dirs))


def _validate_select(select: Iterable[str] | str | None) -> frozenset[str] | None:
    from taskguard._rules import RULES

    if select is None:
        return None
    raw = select.split(",") if isinstance(select, str) else list(select)
    codes = frozenset(c.strip().upper() for c in raw if c.strip())
    unknown = sorted(codes - RULES.keys())
    if unknown:
        raise ValueError(
            f"unknown rule code(s) {', '.join(unknown)}; known: {', '.join(sorted(RULES))}"
        )
    return codes


# How much of each file a run parses and analyses.
FULL = "full"  # the reference: every file parsed, every statement and expression analysed
DEFAULT = "default"  # every file parsed; the prefilter decides which need the analysis
FAST = "fast"  # files the prefilter proves irrelevant are not parsed at all
MODES = (FULL, DEFAULT, FAST)


def check(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    policy: Policy | None = None,
    config: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    select: Iterable[str] | str | None = None,
    prefilter: bool = False,
    jobs: int | None = None,
) -> CheckResult:
    """Check ``paths`` (default: the whole project) against the policy.

    ``policy`` defaults to :func:`load_policy` for the first path (or ``config``).
    ``select`` keeps only the given rule codes in the result. Every file is parsed, so a
    file that cannot be read or parsed is always TG900; ``prefilter=True`` is the fast
    mode (``--fast``), where a file the byte prefilter proves unable to hold a relevant
    import is not parsed, so its syntax errors go unreported. ``jobs`` forces the number of
    worker processes (default: parallel only when it pays). Raises :class:`PolicyError` for
    an invalid policy, ``FileNotFoundError`` for a missing path and ``ValueError`` for an
    unknown code in ``select``.
    """
    return run_check(
        paths,
        policy=policy,
        config=config,
        use_cache=use_cache,
        select=select,
        mode=FAST if prefilter else DEFAULT,
        jobs=jobs,
    )


def run_check(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    policy: Policy | None = None,
    config: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    select: Iterable[str] | str | None = None,
    mode: str = DEFAULT,
    jobs: int | None = None,
) -> CheckResult:
    """:func:`check` with the analysis ``mode`` spelled out (``FULL`` for the reference)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    enabled = _pause_collector()
    try:
        return _run_check(paths, policy, config, use_cache, select, mode, jobs)
    finally:
        _resume_collector(enabled)


def _load_policy(
    path: str | os.PathLike[str] | None, config: str | os.PathLike[str] | None, use_cache: bool
) -> Policy:
    """:func:`load_policy`, with the TOML table read from ``policy.bin`` when it is current."""
    if not use_cache:
        return load_policy(path, config=config)
    from taskguard import _cache
    from taskguard._policy import locate_policy, policy_from_document, read_toml

    _start, source = locate_policy(path, config=config)
    if source is None:
        return load_policy(path, config=config)
    root = str(source.parent)
    key = _cache.table_key(str(source))
    if key is not None:
        hit, document = _cache.load_table(root, key)
        if hit:
            return policy_from_document(document, source, explicit=config is not None)
    document = read_toml(source)
    if key is not None:
        tool = document.get("tool")
        kept = (
            {"tool": {"taskguard": tool["taskguard"]}}
            if isinstance(tool, dict) and ("taskguard" in tool)
            else {}
        )
        _cache.save_table(root, key, kept)
    return policy_from_document(document, source, explicit=config is not None)


def _run_check(  # noqa: PLR0917 - one private call site
    paths: Sequence[str | os.PathLike[str]] | None,
    policy: Policy | None,
    config: str | os.PathLike[str] | None,
    use_cache: bool,
    select: Iterable[str] | str | None,
    mode: str,
    jobs: int | None,
) -> CheckResult:
    from array import array

    codes = _validate_select(select)
    if policy is None:
        policy = _load_policy(paths[0] if paths else None, config, use_cache)
    root = os.path.abspath(policy.project_root) if policy.project_root else os.getcwd()
    targets = [os.path.abspath(p) for p in paths] if paths else [root]
    for target in targets:
        if not os.path.exists(target):
            raise FileNotFoundError(2, "no such file or directory", os.fspath(target))
    whole = any(t == root or root.startswith(t.rstrip(os.sep) + os.sep) for t in targets)
    graph = policy.indirect

    reported = _collect(_walk(targets, policy, root), {})
    listings = reported
    if graph and not whole:
        # The import graph runs through the whole project, not just the given paths.
        listings = _collect(_walk([root], policy, root), dict(reported))

    from taskguard import _cache

    fingerprint = _cache.fingerprint(policy) if use_cache else ""
    cached = _cache.load(root, fingerprint) if use_cache else _cache.Entries.empty()
    skipped = _SKIPPED_GRAPH if graph else _SKIPPED
    # Every file whose record matters (findings or suppressions; all of them for the graph).
    found: list[tuple[SourceFile, Record]] = []
    todo: list[SourceFile] = []
    # Where each file of ``todo`` goes in the cache.
    slots: list[tuple[_Rewrite, int]] = []
    rewrites: dict[str, _Rewrite] = {}
    for rel_dir, (directory, package, names, stats, complete) in listings.items():
        packed = array("q", stats)
        known = cached.dirs.get(rel_dir)
        if known is not None and known[0] == names and known[1] == packed.tobytes():
            common: Record = known[2]
            others: dict[int, Record] = known[3]
            if _serve(common, mode, skipped) is common and all(
                _serve(other, mode, skipped) is other for other in others.values()
            ):
                # The whole directory is unchanged and served as stored: the usual case.
                # Only the files whose record differs from the common one, unless that matters.
                chosen = range(len(names)) if graph or common[1] or common[2] else others
                for i in chosen:
                    unchanged = others.get(i, common)
                    if graph or unchanged[1] or unchanged[2]:
                        name = names[i]
                        rel = f"{rel_dir}/{name}" if rel_dir else name
                        path = f"{directory}{os.sep}{name}"
                        same = SourceFile(path, rel, package, name[:-3], stats[_STAMPS * i], 0)
                        found.append((same, unchanged))
                continue
        # Per file: some files changed, or the directory is new or listed differently.
        index: dict[str, int] = {}
        old = array("q")
        if known is not None:
            index = {name: i for i, name in enumerate(known[0])}
            old.frombytes(known[1])
        rewrite = _Rewrite(names, packed, complete)
        # A complete listing replaces what the cache knows of the directory (files gone, or
        # listed in another order, which would defeat the comparison above next time).
        dirty = complete and known is not None and known[0] != names
        for j, name in enumerate(names):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            at = _STAMPS * j
            file = SourceFile(
                f"{directory}{os.sep}{name}", rel, package, name[:-3], stats[at], stats[at + 2]
            )
            before = index.get(name)
            served: Record | None = None
            if (
                before is not None
                and old[_STAMPS * before : _STAMPS * before + _STAMPS] == packed[at : at + _STAMPS]
            ):
                assert known is not None
                stored: Record = known[3][before] if before in known[3] else known[2]
                served = _serve(stored, mode, skipped)
                rewrite.kept[j] = stored
            if served is None:
                todo.append(file)
                slots.append((rewrite, j))
                dirty = True
            elif graph or served[1] or served[2]:
                found.append((file, served))
        if dirty:
            rewrites[rel_dir] = rewrite

    cwd = os.getcwd()
    if todo:
        prefilter = None if mode == FULL else Prefilter(policy, graph=graph)
        syntax = _SyntaxMemo(_cache.load_syntax(root)) if use_cache and mode == DEFAULT else None
        # Analysed under the project-relative path: records are cached whatever the working
        # directory, and the reported path is put into TG900 messages below.
        fresh = _analyze_all(
            [(f.path, f.rel, f.module, f.is_package, f.size) for f in todo],
            (policy, prefilter, graph, mode == FAST, syntax),
            jobs,
        )
        for f, record in zip(todo, fresh, strict=True):
            if graph or record[1] or record[2]:
                found.append((f, record))
        if use_cache:
            import time

            # A file written within the filesystem's timestamp granularity of our read
            # could change again without its stamps changing: such "racy" files are not
            # cached.
            racy_after = time.time_ns() - _cache.RACY_NS
            for f, record, (rewrite, j) in zip(todo, fresh, slots, strict=True):
                rewrite.kept[j] = record if f.mtime_ns < racy_after else None
            _store(root, fingerprint, cached, rewrites, listings if whole or graph else None)
            if syntax is not None and syntax.learned:
                syntax.known.update(syntax.learned)
                _cache.save_syntax(root, syntax.known)
    elif use_cache and (rewrites or (whole and len(cached.dirs) != len(listings))):
        _store(root, fingerprint, cached, rewrites, listings if whole or graph else None)

    display = _displayer(root, cwd)
    if graph and not whole:
        wanted = {
            f"{rel_dir}/{name}" if rel_dir else name
            for rel_dir, listing in reported.items()
            for name in listing[2]
        }
        shown_files = [(f, record) for f, record in found if f.rel in wanted]
    else:
        shown_files = found
    indirect_findings: dict[str, list[Finding]] = {}
    if graph:
        by_module = {f.module: record for f, record in found}
        indirect_findings = _indirect(policy, by_module, (f.module for f, _r in shown_files))

    violations: list[Violation] = []
    allow_used: set[int] = set()
    for f, (_status, findings, suppressions, _imports) in shown_files:
        every = list(findings) + indirect_findings.get(f.module, []) if graph else findings
        if not every and not suppressions:
            continue
        shown = display(f.rel)
        used: list[set[str]] = [set() for _ in suppressions]
        by_line: dict[int, list[int]] = {}
        for i, (line, _codes, problem) in enumerate(suppressions):
            if not problem:
                by_line.setdefault(line, []).append(i)
        for line, column, stmt_line, code, imported, message, allow, chain in every:
            if allow >= 0:
                allow_used.add(allow)
                continue
            hit = next(
                (
                    i
                    for ln in dict.fromkeys((line, stmt_line))
                    for i in by_line.get(ln, ())
                    if code in suppressions[i][1] and code != TG900.code
                ),
                None,
            )
            if hit is not None:
                used[hit].add(code)
                continue
            importer = None if code == TG900.code else f.module
            text = message
            if code == TG900.code and shown != f.rel:
                # Records name the project-relative path; report the one the user sees.
                text = message.replace(f" {f.rel}: ", f" {shown}: ", 1)
            violations.append(Violation(shown, line, column, code, importer, imported, text, chain))
        for (line, sup_codes, problem), done in zip(suppressions, used, strict=True):
            if problem:
                what = f"inline suppression ({problem})"
            else:
                unused = [c for c in sup_codes if c not in done]
                if not unused:
                    continue
                what = f"inline suppression ignore[{','.join(unused)}]"
            message = TG005.template.format(what=what)
            violations.append(Violation(shown, line, 1, TG005.code, f.module, None, message))
    if whole and policy.allow:
        source = _display(str(policy.source), cwd) if policy.source else "pyproject.toml"
        for i, (entry, line) in enumerate(zip(policy.allow, _allow_lines(policy), strict=True)):
            if i not in allow_used:
                what = f"allow entry {entry.importer} -> {entry.imported}"
                message = TG005.template.format(what=what)
                violations.append(
                    Violation(source, line, 1, TG005.code, entry.importer, entry.imported, message)
                )
    if codes is not None:
        violations = [v for v in violations if v.code in codes]
    files_checked = sum(len(listing[2]) for listing in reported.values())
    return CheckResult(tuple(sorted(violations)), files_checked)
