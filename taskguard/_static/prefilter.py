"""The byte prefilter: which files need parsing, decided from their raw bytes alone.

The prefilter is sound: it only rules out a file when no import statement or expression in
it can resolve to a name the policy cares about. See :class:`Prefilter` for the argument.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

from taskguard._policy import Policy
from taskguard._static.members import other_names
from taskguard._static.names import ancestors as _ancestors

# Byte values, as indexing ``bytes`` gives them.
_SPACE = ord(" ")
_DOT = ord(".")
_BACKSLASH = ord("\\")
_BLANKS = (_SPACE, ord("\t"), ord("\f"))  # what the tokenizer skips between tokens
_NEWLINES = (ord("\n"), ord("\r"))
# 1 for the bytes of an ASCII identifier (letters, digits, "_"), indexed by byte value.
_WORD = bytes(1 if (chr(i).isalnum() or chr(i) == "_") and i < 128 else 0 for i in range(256))


def _has_word(data: bytes, word: bytes) -> bool:
    """Whether ``word`` occurs as a whole identifier that is not an attribute (``x.word``).

    ``re . compile`` (spaces around the dot) counts as an occurrence: a superset is sound.
    """
    n = len(data)
    size = len(word)
    i = data.find(word)
    while i != -1:
        before = data[i - 1] if i else _SPACE
        after = data[i + size] if i + size < n else _SPACE
        if not _WORD[before] and before != _DOT and not _WORD[after]:
            return True
        i = data.find(word, i + 1)
    return False


def _has_relative_import(data: bytes) -> bool:
    """Whether ``from`` is ever followed (across blanks and line continuations) by a dot."""
    n = len(data)
    i = data.find(b"from")
    while i != -1:
        j = i + len(b"from")
        while j < n:
            c = data[j]
            if c in _BLANKS:
                j += 1
            elif c == _BACKSLASH and j + 1 < n and data[j + 1] in _NEWLINES:
                j += 3 if data[j + 1 : j + 3] == b"\r\n" else 2
            else:
                break
        if j < n and data[j] == _DOT:
            return True
        i = data.find(b"from", i + len(b"from"))
    return False


class Group(NamedTuple):
    """The literal segments of one pattern, and its first segment when that is literal.

    ``first`` is None for "*"/"**": a relative import only ever resolves inside the
    importer's own root package, so the module name can only supply segments to patterns
    that can start there.
    """

    segments: tuple[str, ...]
    first: str | None


class Needles(NamedTuple):
    """A :class:`Group` ready for searching: (segment bytes, segment) pairs."""

    segments: tuple[tuple[bytes, str], ...]
    first: str | None


class ChainHead(NamedTuple):
    """The first segment of a module above a pattern, and how a file may bind a name to it."""

    head: bytes
    binding: re.Pattern[bytes]  # the import statements that may bind such a name
    tails: frozenset[bytes]  # the names those statements bind (the ancestors' last segments)
    groups: tuple[tuple[bytes, ...], ...]  # the literal segments of the patterns below


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
        groups.add(Group(tuple(sorted(segments, key=lambda s: (-len(s), s))), first))
    kept: list[Group] = []
    for group in sorted(groups, key=lambda g: (len(g.segments), g.segments, g.first or "")):
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
                occurrence = data.find(b"import", occurrence + len(b"import"), end)
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
    list of dotted names in which one starts with the head (``import os, urllib``),
    ``from <parent> import`` for an ancestor of two or more segments (``from concurrent
    import futures``), or a star import from an ancestor (``from concurrent.futures import
    *``, which may bind the member itself). Blanks include backslash continuations.
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
            # ``from concurrent import futures`` binds an ancestor...
            parent = ancestor.rpartition(".")[0]
            if parent:
                spelled = dotted.join(re.escape(part.encode()) for part in parent.split("."))
                alternatives.append(rb"\bfrom%s+%s%s+import\b" % (blank, spelled, blank))
            # ... and ``from concurrent.futures import *`` may bind the member itself.
            spelled = dotted.join(re.escape(part.encode()) for part in ancestor.split("."))
            alternatives.append(rb"\bfrom%s+%s%s+import[\s\\(]*\*" % (blank, spelled, blank))
        groups = tuple(
            tuple(part.encode() for part in pattern.split(".") if part not in ("*", "**"))
            for pattern in patterns
            if pattern.partition(".")[0] == head
        )
        found.append(
            ChainHead(
                head.encode(),
                re.compile(b"|".join(alternatives)),
                frozenset(a.rpartition(".")[2].encode() for a in mine),
                groups,
            )
        )
    return tuple(found)


class Prefilter:
    """Decides, from the raw bytes alone, whether a file needs the analysis.

    By default a file that does not is not parsed at all; when every file is parsed
    (``check(parse_all=True)``, ``--parse-all``) it is only checked for syntax (TG900).

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
        # A member named by an entry is also importable from its defining module (see
        # members.other_names): those names are patterns here too.
        dispatch_patterns = policy.dispatch_modules + tuple(other_names(policy.dispatch_modules))
        forbidden_patterns = policy.forbidden_in_protected + tuple(
            other_names(policy.forbidden_in_protected)
        )
        for exact in (False, True):
            dispatch = _needle_groups(dispatch_patterns, exact=exact)
            forbidden = _needle_groups(forbidden_patterns, exact=exact)
            # First-party names only come from the bytes; relative imports are found apart.
            roots = tuple(
                Group(segments, "")
                for segments, _first in _needle_groups(policy.root_packages, exact=exact)
            )
            extra = forbidden + roots if graph else ()
            self.groups[exact, False] = dispatch + extra
            self.groups[exact, True] = dispatch + (extra or forbidden)
        # The first segments of the modules above a pattern (see _ancestors): an import
        # statement naming one may bind a name whose attribute chains reach the pattern, so
        # the file is analysed whatever else its bytes hold.
        self.chains: dict[bool, tuple[ChainHead, ...]] = {
            protected: _chain_heads(dispatch_patterns + (forbidden_patterns if protected else ()))
            for protected in (False, True)
        }
        self.needles: dict[tuple[bool, bool], tuple[Needles, ...]] = {
            key: tuple(
                Needles(tuple((segment.encode(), segment) for segment in segments), first)
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
            chain.head in data and self._chained(data, region, chain)
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
        chains = [chain for chain in self.chains[protected] if chain.head in data]
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
# Compiled with the module: only runs that read files import it.
_CALLS = re.compile(_CALL_PATTERN)


def _expressions_matter(
    data: bytes, protected: bool, spans: Callable[[bytes], list[tuple[int, int]] | None]
) -> bool:
    """Whether some expression in the file could be a dynamic import or run code.

    Non-ASCII text can spell any identifier (NFKC), so it always counts. ``spans`` gives the
    byte spans of the file's import statements (:func:`_import_spans`).

    Every file the prefilter rules out goes through all of these searches, so they are
    plain loops over ``in`` and ``find`` (C searches), without generator expressions.
    """
    if not data.isascii() or _CALLS.search(data) is not None:
        return True
    for word in _NAMESPACE_WORDS:
        if word in data:
            return True
    for word in _NAMESPACE_NAMES:
        if _has_word(data, word):
            return True
    if not protected:
        return False
    for word in _PROTECTED_WORDS:
        if word in data:
            return True
    for word in _PROTECTED_NAMES:
        if _has_word(data, word):
            return True
    # Cutting out the import statements costs more than every search above: only when the
    # word is an identifier somewhere at all (the spans are a part of the file).
    imported = [word for word in _IMPORTED_WORDS if _has_identifier(data, word)]
    if not imported:
        return False
    found = spans(data)
    region = data if found is None else b"\n".join(data[start:end] for start, end in found)
    return any(_has_identifier(region, word) for word in imported)
