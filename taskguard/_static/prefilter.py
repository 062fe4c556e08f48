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
from taskguard._static.records import DIRECTIVE_NEEDLES

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


def _parens_left_open(data: bytes, at: int, end: int) -> int:
    """How many parentheses an import statement whose line runs from ``at`` (its first
    ``import``) to ``end`` may leave open.

    The first "import" on the line may sit in a string ("import #", "import )") before the
    real keyword. After the real one only names, commas, parentheses and a comment can
    follow, so the deepest count over every occurrence is safe.
    """
    depth = 0
    if b"(" in data[at:end]:
        occurrence = at
        while occurrence != -1:
            tail = _comment_free(data[occurrence:end])
            depth = max(depth, tail.count(b"(") - tail.count(b")"))
            occurrence = data.find(b"import", occurrence + len(b"import"), end)
    return depth


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
        depth = _parens_left_open(data, at, end)
        more = continued and data[start:end].rstrip().endswith(b"\\")
        while (depth > 0 or more) and end < size:
            following = data.find(b"\n", end + 1)
            following = size if following == -1 else following
            body = data[end + 1 : following]
            code = _comment_free(body)
            depth += code.count(b"(") - code.count(b")")
            # A backslash ending a comment continues nothing: this line may be a statement
            # of its own, whose import's "(" follows a "#" in a string ("import #"; ...).
            keyword = _find_keyword(data, b"import", end + 1)
            if keyword != -1 and keyword < following:
                depth = max(depth, _parens_left_open(data, keyword, following))
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


# The screen (see Prefilter.needs_parse): a few regular expressions, each finding any of
# several words at once. A regular expression that starts with one literal byte scans for it
# in a tight C loop (about as fast as one ``in``) and only tries the rest of the pattern where
# that byte occurs, so the words are grouped by an "anchor" byte they hold that source text
# seldom does, and each pattern checks its words from that byte: forwards first (a literal
# compare that fails at once), then a lookbehind over the whole word with its boundaries.
# Where a word must stand to count:
_ANYWHERE = 0  # any substring
_ENDS = 1  # not followed by an identifier byte
_IDENTIFIER = 2  # a whole identifier ("x.word" included)
_NAME = 3  # a whole identifier that is not an attribute ("x.word" excluded)
_BEFORE = {_IDENTIFIER: rb"(?<!\w)", _NAME: rb"(?<![\w.])"}
# How often each identifier byte occurs per 10,000 bytes of Python source (the standard
# library and a virtual environment's site-packages, 61 MB), to pick rare anchors.
_FREQUENT = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_FREQUENCIES = (
    *(30, 21, 16, 9, 8, 7, 7, 5, 7, 6),  # digits
    *(25, 8, 23, 16, 34, 17, 7, 7, 24, 1, 4, 16, 13, 32, 19, 20, 1, 22, 27, 38, 10, 7, 5, 2),
    *(3, 1),  # upper case
    180,  # "_"
    *(385, 76, 195, 196, 725, 164, 96, 121, 373, 11, 38, 273, 143, 371, 357, 188, 12, 392),
    *(395, 493, 157, 47, 41, 45, 90, 8),  # lower case
)
_FREQUENCY = dict(zip(_FREQUENT, _FREQUENCIES, strict=True))
# What one pass over the bytes costs, counted in tries of a pattern at one byte, per 10,000
# bytes (measured: ~1.3 us to scan 5.5 KB, ~8 ns per try, CPython 3.11).
_SCAN_COST = 300


class Word(NamedTuple):
    """A word the screen looks for."""

    text: bytes
    kind: int  # where it counts: _ANYWHERE, _ENDS, _IDENTIFIER or _NAME
    decisive: bool  # found, the file needs parsing (else: the thorough tests decide)


def _anchor_at(anchor: int, text: bytes) -> int:
    """Where in ``text`` the pattern anchors: the first ``anchor`` byte but the last one."""
    return text.index(anchor, 0, max(len(text) - 1, 1))


def _anchored(anchor: int, words: Iterable[Word]) -> re.Pattern[bytes]:
    """A pattern that finds each of ``words`` (which hold ``anchor``) from that byte.

    A match is the anchor byte of a word found, alone: a search from each match on finds
    every occurrence, none hidden by an overlapping one.
    """
    # Grouped by the byte after the anchor: one compare rules out a whole group.
    by_next: dict[bytes, list[bytes]] = {}
    for word in words:
        text = word.text
        at = _anchor_at(anchor, text)
        before = _BEFORE.get(word.kind, b"")
        after = rb"(?!\w)" if word.kind != _ANYWHERE else b""
        behind = b"(?<=%s%s)" % (before, re.escape(text)) if at or before else b""
        rest = text[at + 1 :]
        by_next.setdefault(rest[:1], []).append(re.escape(rest[1:]) + after + behind)
    alternatives = [
        re.escape(first) + (b"(?:%s)" % b"|".join(tails) if len(tails) > 1 else tails[0])
        for first, tails in sorted(by_next.items(), key=lambda item: not item[0])
    ]
    # The anchor first: the scan for one literal byte is the fast one.
    return re.compile(b"%s(?=%s)" % (re.escape(bytes((anchor,))), b"|".join(alternatives)))


class Anchored(NamedTuple):
    """One pass of the screen: the words that hold its anchor byte."""

    pattern: re.Pattern[bytes]  # finds any of them
    decisive: re.Pattern[bytes] | None  # finds the decisive ones (None: there are none)
    undecided: tuple[tuple[bytes, int], ...]  # the other words, and where their anchor is


def _screen_patterns(words: Iterable[Word]) -> tuple[Anchored, ...]:
    """Patterns that together find each of ``words`` where its kind says it counts.

    The anchors are the cheapest set :func:`_cover` finds, a pass costing a scan plus a try
    at each occurrence of its byte. A word counts as covered by a byte before its last one:
    from its last byte the pattern can only look back, which costs a lookbehind at every
    occurrence of the anchor.
    """
    # One kind per word and role, the weakest: a substring anywhere covers the others.
    weakest: dict[tuple[bytes, bool], int] = {}
    for text, kind, role in words:
        weakest[text, role] = min(kind, weakest.get((text, role), kind))
    left = [Word(text, kind, role) for (text, role), kind in sorted(weakest.items())]
    passes: list[Anchored] = []
    for anchor in _cover([word.text[:-1] or word.text for word in left]):
        mine = [word for word in left if anchor in (word.text[:-1] or word.text)]
        if not mine:
            continue
        undecided = tuple(
            (word.text, _anchor_at(anchor, word.text)) for word in mine if not word.decisive
        )
        decisive = [word for word in mine if word.decisive]
        passes.append(
            Anchored(
                _anchored(anchor, mine),
                _anchored(anchor, decisive) if decisive else None,
                undecided,
            )
        )
        left = [word for word in left if anchor not in (word.text[:-1] or word.text)]
    return tuple(passes)


def _pass_cost(byte: int) -> int:
    return _SCAN_COST + _FREQUENCY.get(byte, _SCAN_COST)


def _cover(texts: list[bytes]) -> list[int]:
    """Bytes such that each of ``texts`` holds one, as cheap to scan for as a bounded
    search finds (depth first, cheapest bytes first, pruned by the best cover so far)."""
    masks: dict[int, int] = {}
    for i, text in enumerate(texts):
        for byte in set(text):
            masks[byte] = masks.get(byte, 0) | (1 << i)
    # A byte is never worth more than one that costs no more and covers all it covers.
    useful = [
        byte
        for byte, mask in masks.items()
        if not any(
            other != byte
            and masks[other] | mask == masks[other]
            and (_pass_cost(other), other) < (_pass_cost(byte), byte)
            for other in masks
        )
    ]
    options = [
        sorted((b for b in useful if masks[b] >> i & 1), key=lambda b: (_pass_cost(b), b))
        for i in range(len(texts))
    ]
    full = (1 << len(texts)) - 1
    best: list[int] = []
    best_cost = -1
    budget = 2_000  # nodes: the first cover comes within len(texts) of them

    def search(covered: int, chosen: list[int], spent: int) -> None:
        nonlocal best, best_cost, budget
        if budget <= 0 or (best_cost >= 0 and spent >= best_cost):
            return
        budget -= 1
        if covered == full:
            best, best_cost = chosen, spent
            return
        first = (~covered & (covered + 1)).bit_length() - 1  # the first text not covered
        for byte in options[first]:
            # The options are cheapest first: once one cannot beat the best, none can.
            if best_cost >= 0 and spent + _pass_cost(byte) >= best_cost:
                return
            search(covered | masks[byte], [*chosen, byte], spent + _pass_cost(byte))

    search(0, [], 0)
    return sorted(best, key=lambda b: (_pass_cost(b), b))


# A superset of what _has_relative_import finds: "from", then blanks, backslashes and line
# ends in any order, then a dot.
_RELATIVE = re.compile(rb"from[ \t\f\\\r\n]*\.")


class Role(NamedTuple):
    """Why the screen looks for an undecided word, and what else that needs."""

    others: tuple[bytes, ...]  # a group's other segments, each an identifier somewhere
    # A chain head: the literal segments of the patterns below it, and the names the
    # statements binding it bind (see ChainHead).
    below: tuple[tuple[bytes, ...], ...]
    tails: frozenset[bytes]
    # A chain head: what may follow it after "from" (see _chain_tail); ``chain`` False: a
    # group segment or a word of _IMPORTED_WORDS.
    tail: re.Pattern[bytes] | None
    chain: bool


def _chain_tail(head: bytes, ancestors: Iterable[bytes]) -> re.Pattern[bytes]:
    """What may follow ``head`` in ``from <head>...`` when the statement binds an ancestor
    (see _chain_heads): ``from <parent> import`` for an ancestor's parent, ``from <ancestor>
    import *``, each spelled with blanks around its dots; or the end of the line anywhere in
    between (the import region joins the lines of statements that need not follow each
    other, so a statement cut short there may go on in the region).
    """
    line_end = rb"[ \t\f\v\\\r]*(?:\n|\Z)"

    def rest(segments: list[bytes], end: bytes) -> bytes:
        if not segments:
            return b"(?:%s|%s)" % (end, line_end)
        step = rb"[\s\\]*\.(?:[\s\\]*%s%s|%s)" % (
            re.escape(segments[0]),
            rest(segments[1:], end),
            line_end,
        )
        return b"(?:%s|%s)" % (step, line_end)

    forms: list[bytes] = []
    for ancestor in ancestors:
        parts = ancestor.split(b".")
        star = rb"[\s\\]+import(?:[\s\\(]*\*|[ \t\f\v\\\r(]*(?:\n|\Z))"
        forms.append(rest(parts[1:], star))
        if len(parts) > 1:
            forms.append(rest(parts[1:-1], rb"[\s\\]+import\b"))
    return re.compile(b"|".join(sorted(set(forms))))


# "(" after "import" on a line: _import_spans may then extend a span over the next lines.
_PAREN_IMPORT = re.compile(rb"import[^\n]*\(")
_BLANKS_BEFORE = b" \t\f\v\r\n\\"


def _import_line(data: bytes, at: int) -> bool:
    """Whether the line around ``at`` holds the word ``import``."""
    line = data.rfind(b"\n", 0, at) + 1
    end = data.find(b"\n", at)
    end = len(data) if end == -1 else end
    found = data.find(b"import", line, end)
    while found != -1:
        after = found + len(b"import")
        if (found == 0 or not _WORD[data[found - 1]]) and (
            after >= len(data) or not _WORD[data[after]]
        ):
            return True
        found = data.find(b"import", after, end)
    return False


def _identifier_on_import_line(data: bytes, word: bytes) -> bool:
    """Whether ``word`` is an identifier on a line that holds the word ``import``."""
    n = len(data)
    size = len(word)
    i = data.find(word)
    while i != -1:
        if (
            (not i or not _WORD[data[i - 1]])
            and (i + size >= n or not _WORD[data[i + size]])
            and _import_line(data, i)
        ):
            return True
        i = data.find(word, i + 1)
    return False


# "as" at the end of a line: in the import region the next statement's first name may
# follow it, which makes that name an ``as`` name there.
_AS_AT_LINE_END = re.compile(rb"as[ \t\f\v\\\r]*(?:\n|\Z)")
# _GETATTR_FIRST_NAME and _AS_NAME without their leading \b (which costs the fast scan for
# the literal): supersets.
_GETATTR_ANY_FIRST_NAME = re.compile(rb"getattr[\s\\]*\([\s\\]*(\w+)")
_ANY_AS_NAME = re.compile(rb"as[\s\\]+(\w+)")


def _getattr_names(data: bytes) -> tuple[set[bytes], set[bytes] | None]:
    """getattr()'s first arguments in ``data``, and a superset of the names ``as`` binds in
    its import region (None: any name may be one)."""
    if b"getattr" not in data:
        return set(), set()
    firsts = {match.group(1) for match in _GETATTR_ANY_FIRST_NAME.finditer(data)}
    if not firsts or _AS_AT_LINE_END.search(data) is not None:
        return firsts, None
    return firsts, set(_ANY_AS_NAME.findall(data))


def _binds_here(data: bytes, at: int, size: int, tail: re.Pattern[bytes]) -> bool:
    """Whether the chain head at ``at`` (``size`` bytes) may be what a binding statement
    names (see _chain_heads): after ``import`` or a comma, or in ``from <head>`` followed
    by ``tail``, across blanks. A head at the start of a line may follow an import
    statement in the import region, which joins the lines of the statements."""
    window = data[max(0, at - 200) : at]
    kept = window.rstrip(_BLANKS_BEFORE)
    if not kept or b"\n" in window[len(kept) :] or kept.endswith((b",", b"import")):
        return True  # (no kept bytes: the start of the file, or blanks past the window)
    return kept.endswith(b"from") and tail.match(data, at + size) is not None


class Screen(NamedTuple):
    """The first test of Prefilter.needs_parse, which rules out most files."""

    passes: tuple[Anchored, ...]
    # What each undecided word is looked for as (see Prefilter._import_lines).
    roles: dict[bytes, tuple[Role, ...]]
    relative: bool  # a relative import makes the file relevant (the graph mode)
    # (segment, first) of each group whose chosen segment the module name may supply.
    from_module: tuple[tuple[str, str | None], ...]
    hint: re.Pattern[str] | None  # finds any of those segments in a module name


class Prefilter:
    """Decides, from the raw bytes alone, whether a file needs the analysis.

    By default a file that does not is not parsed at all; when every file is parsed
    (``check(parse_all=True)``, ``--parse-all``) it is only checked for syntax (TG900).

    Soundness argument. A file always needs it when it is not pure ASCII (encodings, BOM,
    NFKC-normalised identifiers such as a fullwidth ``import httpx``), when its first two
    lines hold a coding cookie (an ASCII file may still declare ``utf-7``), or when it
    mentions ``taskguard`` (suppression comments, also with capitals) or a word of
    :func:`_expressions_matter`
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
        self.policy = policy
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
        # Building TG004's graph, a forbidden member reached that way is an edge in any module.
        self.chain_patterns = {
            protected: dispatch_patterns + (forbidden_patterns if protected or graph else ())
            for protected in (False, True)
        }
        self.chains: dict[bool, tuple[ChainHead, ...]] = {
            protected: _chain_heads(self.chain_patterns[protected]) for protected in (False, True)
        }
        self.needles: dict[tuple[bool, bool], tuple[Needles, ...]] = {
            key: tuple(
                Needles(tuple((segment.encode(), segment) for segment in segments), first)
                for segments, first in groups
            )
            for key, groups in self.groups.items()
        }
        self.screens = {protected: self._screen(protected) for protected in (False, True)}

    def _screen(self, protected: bool) -> Screen:
        """The words whose absence rules a file out before any other test (see needs_parse).

        Decisive: the words of _expressions_matter but ``types``, as it looks for them, and
        ``taskguard`` in any of DIRECTIVE_NEEDLES' spellings: _whole_file_needles passes a
        file that holds one. The others only
        say that the thorough tests must decide: ``types`` (as an identifier), one segment of
        each group (as an identifier: groups are matched in the import region, a part of the
        file) unless the module name may supply it, the chain heads (as names: they count
        only in an import statement binding them, see _chain_heads), and in the graph mode
        whatever may start a relative import.
        """
        # Every spelling _whole_file_needles passes a file for (capitals included).
        words = [Word(needle, _ANYWHERE, True) for needle in DIRECTIVE_NEEDLES]
        words += [
            Word(name, _ENDS if name != b"__import__" else _ANYWHERE, True) for name in _CALL_NAMES
        ]
        words += [Word(word, _ANYWHERE, True) for word in _NAMESPACE_WORDS]
        words += [Word(name, _NAME, True) for name in _NAMESPACE_NAMES]
        if protected:
            words += [Word(word, _ANYWHERE, True) for word in _PROTECTED_WORDS]
            words += [Word(name, _NAME, True) for name in _PROTECTED_NAMES]
            words += [Word(word, _IDENTIFIER, False) for word in _IMPORTED_WORDS]
        from_module: list[tuple[str, str | None]] = []
        for segments, first in self.needles[True, protected]:
            # The longest segment is the most specific, the one most likely absent.
            needle, segment = segments[0]
            words.append(Word(needle, _IDENTIFIER, False))
            if first != "":  # "": a root package's segment, never taken from the module
                from_module.append((segment, first))
        words += [Word(chain.head, _NAME, False) for chain in self.chains[protected]]
        roles: dict[bytes, list[Role]] = {}
        if protected:
            for word in _IMPORTED_WORDS:
                roles.setdefault(word, []).append(Role((), (), frozenset(), None, chain=False))
        for segments, _first in self.needles[True, protected]:
            needle = segments[0][0]
            others = tuple(other for other, _segment in segments[1:])
            roles.setdefault(needle, []).append(Role(others, (), frozenset(), None, chain=False))
        ancestors = _ancestors(self.chain_patterns[protected])
        for chain in self.chains[protected]:
            mine = [a.encode() for a in ancestors if a.partition(".")[0].encode() == chain.head]
            roles.setdefault(chain.head, []).append(
                Role((), chain.groups, chain.tails, _chain_tail(chain.head, mine), chain=True)
            )
        hint = None
        if from_module:
            hint = re.compile("|".join(re.escape(segment) for segment, _first in from_module))
        return Screen(
            _screen_patterns(words),
            {word: tuple(found) for word, found in roles.items()},
            self.graph,
            tuple(from_module),
            hint,
        )

    def _import_lines(
        self, data: bytes, module: str, screen: Screen, found: list[Anchored]
    ) -> bool:
        """Whether an undecided word the screen found may count: it stands on a line that
        holds ``import`` and has what its role needs. Only when the import region is the
        lines holding the ``import`` keyword (see _import_spans): no line continued by a
        backslash or an open parenthesis after ``import``, no lone CR (else True)."""
        # (One byte first: ``in`` finds a single byte with memchr, far faster than two.)
        if (
            (b"\\" in data and (b"\\\n" in data or b"\\\r\n" in data))
            or (b"\r" in data and b"\r" in data.replace(b"\r\n", b""))
            or _PAREN_IMPORT.search(data) is not None
        ):
            return True
        firsts: set[bytes] | None = None  # getattr()'s first arguments
        bound: set[bytes] | None = None  # the ``as`` names (None: any name may be one)
        for screen_pass in found:
            for match in screen_pass.pattern.finditer(data):
                anchor = match.start()
                for text, at in screen_pass.undecided:
                    start = anchor - at
                    if start < 0 or not data.startswith(text, start):
                        continue
                    if not _import_line(data, start):
                        continue
                    for role in screen.roles[text]:
                        if role.chain:
                            # What _chained needs besides the binding statement: the
                            # segments below, or getattr() on a name such a statement binds.
                            assert role.tail is not None
                            if not _binds_here(data, start, len(text), role.tail):
                                continue
                            if any(
                                all(_has_identifier(data, part) for part in group)
                                for group in role.below
                            ):
                                return True
                            if firsts is None:
                                firsts, bound = _getattr_names(data)
                            if not firsts.isdisjoint(role.tails) or (
                                firsts and (bound is None or not firsts.isdisjoint(bound))
                            ):
                                return True
                        elif all(
                            other.decode() in module or _identifier_on_import_line(data, other)
                            for other in role.others
                        ):
                            return True
        return False

    def _screened(self, data: bytes, module: str, protected: bool) -> bool | None:
        """True: the file needs parsing; False: it does not; None: the thorough tests of
        needs_parse_unscreened decide, knowing that no decisive word is in the file."""
        newline = data.find(b"\n")
        second = data.find(b"\n", newline + 1) if newline != -1 else -1
        if data.find(b"coding", 0, second if second != -1 else len(data)) != -1:
            return True
        screen = self.screens[protected]
        found: list[Anchored] = []
        for screen_pass in screen.passes:
            match = screen_pass.pattern.search(data)
            if match is None:
                continue
            # The first word found may be a decisive one, or one may follow it.
            decisive = screen_pass.decisive
            if decisive is not None and decisive.search(data, match.start()) is not None:
                return True
            found.append(screen_pass)
        if screen.relative and _RELATIVE.search(data) is not None:
            return None
        if found and self._import_lines(data, module, screen, found):
            return None
        if screen.hint is None or screen.hint.search(module) is None:
            return False
        root = module.partition(".")[0]
        if any(
            segment in module and (first is None or first == root)
            for segment, first in screen.from_module
        ):
            return None
        return False

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
        if b"coding" in head or any(needle in data for needle in DIRECTIVE_NEEDLES):
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
        if end >= len(data):
            return None
        if b"TYPE_CHECKING" in data and self.policy.type_checking == "ignore":
            # Whether ``if TYPE_CHECKING:`` skips its imports depends on every binding of
            # the names it reads, in the whole file (scopes.Bindings.type_checking_names):
            # ``TYPE_CHECKING = True`` or ``typing = None`` after the cut makes the flag a
            # value, and the imports under it count. Such a binding spells the name (the
            # file is ASCII), one of these or an ``as`` name of the import statements.
            names = (b"TYPE_CHECKING", b"typing", b"typing_extensions", *_AS_NAME.findall(region))
            tail = data[end:]
            if any(_has_identifier(tail, name) for name in names):
                return None
        return end

    def needs_parse(self, data: bytes, module: str, protected: bool) -> bool:
        """Whether the file may hold an import the policy judges (or a suppression)."""
        # The screen rules out most files in a few passes over the bytes; the tests below
        # take a dozen passes, and more for protected modules.
        if not data.isascii():
            return True
        screened = self._screened(data, module, protected)
        if screened is not None:
            return screened
        return self._import_tests(data, module, protected)

    def needs_parse_unscreened(self, data: bytes, module: str, protected: bool) -> bool:
        """:meth:`needs_parse` without its screen: the same answer, slower."""
        if self._whole_file_needles(data, protected):
            return True
        return self._import_tests(data, module, protected)

    def _import_tests(self, data: bytes, module: str, protected: bool) -> bool:
        """needs_parse_unscreened once _whole_file_needles is known to be False, but maybe
        for the words of _IMPORTED_WORDS (which only count in import statements)."""
        if protected and _imported_words_matter(data, self._spans):
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
_NAMESPACE_WORDS = (b"builtins", b"importlib", b"pkgutil", b"pydoc", b"runpy")
_NAMESPACE_NAMES = (b"globals", b"locals", b"vars")
# ... and in protected modules: zipimport, a loader's methods that run a module
# (``spec.loader.exec_module(m)``), the builtins that run code and ``imp`` (its loaders by
# path) used as bare names, and ``types``, a common word, which only counts in import
# statements (nothing else can bind the module to a name, short of a dynamic import, which
# the words above catch).
_PROTECTED_WORDS = (b"zipimport", b"load_module", b"exec_module")
_PROTECTED_NAMES = (b"exec", b"eval", b"compile", b"imp")
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
    return _imported_words_matter(data, spans)


def _imported_words_matter(
    data: bytes, spans: Callable[[bytes], list[tuple[int, int]] | None]
) -> bool:
    """Whether a word of _IMPORTED_WORDS is an identifier in an import statement."""
    # Cutting out the import statements costs more than every search above: only when the
    # word is an identifier somewhere at all (the spans are a part of the file).
    imported = [word for word in _IMPORTED_WORDS if _has_identifier(data, word)]
    if not imported:
        return False
    found = spans(data)
    region = data if found is None else b"\n".join(data[start:end] for start, end in found)
    return any(_has_identifier(region, word) for word in imported)
