"""The prefilter's screen: the first test of ``Prefilter.needs_parse``, which rules out most
files in a few passes over their bytes.

A few regular expressions, each finding any of several words from an "anchor" byte they hold
(:func:`_anchored`); the anchors are the cheapest set of bytes a bounded search finds
(:func:`_cover`), priced by how often each byte occurs in Python source (``_FREQUENCIES``).
A decisive word found means the file needs parsing; an undecided one only counts on a line
that holds ``import`` and with what its role needs (:func:`screened`); otherwise the
prefilter's thorough tests decide. The screen gives the same answer as those tests alone
(``Prefilter.needs_parse_unscreened``), faster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from taskguard._static.bytescan import has_identifier, identifier_on_import_line, import_line

# The screen (see Prefilter.needs_parse): a few regular expressions, each finding any of
# several words at once. A regular expression that starts with one literal byte scans for it
# in a tight C loop (about as fast as one ``in``) and only tries the rest of the pattern where
# that byte occurs, so the words are grouped by an "anchor" byte they hold that source text
# seldom does, and each pattern checks its words from that byte: forwards first (a literal
# compare that fails at once), then a lookbehind over the whole word with its boundaries.
# Where a word must stand to count:
ANYWHERE = 0  # any substring
ENDS = 1  # not followed by an identifier byte
IDENTIFIER = 2  # a whole identifier ("x.word" included)
NAME = 3  # a whole identifier that is not an attribute ("x.word" excluded)
_BEFORE = {IDENTIFIER: rb"(?<!\w)", NAME: rb"(?<![\w.])"}
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
    kind: int  # where it counts: ANYWHERE, ENDS, IDENTIFIER or NAME
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
        after = rb"(?!\w)" if word.kind != ANYWHERE else b""
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


def screen_patterns(words: Iterable[Word]) -> tuple[Anchored, ...]:
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


# A superset of what has_relative_import finds: "from", then blanks, backslashes and line
# ends in any order, then a dot.
_RELATIVE = re.compile(rb"from[ \t\f\\\r\n]*\.")


class Role(NamedTuple):
    """Why the screen looks for an undecided word, and what else that needs."""

    others: tuple[bytes, ...]  # a group's other segments, each an identifier somewhere
    # A chain head: the literal segments of the patterns below it, and the names the
    # statements binding it bind (see ChainHead).
    below: tuple[tuple[bytes, ...], ...]
    tails: frozenset[bytes]
    # A chain head: what may follow it after "from" (see chain_tail); ``chain`` False: a
    # group segment or a word of IMPORTED_WORDS.
    tail: re.Pattern[bytes] | None
    chain: bool


def chain_tail(head: bytes, ancestors: Iterable[bytes]) -> re.Pattern[bytes]:
    """What may follow ``head`` in ``from <head>...`` when the statement binds an ancestor
    (see ``prefilter._chain_heads``): ``from <parent> import`` for an ancestor's parent,
    ``from <ancestor> import *``, each spelled with blanks around its dots; or the end of the
    line anywhere in between (the import region joins the lines of statements that need not
    follow each other, so a statement cut short there may go on in the region).
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


# "(" after "import" on a line: import_spans may then extend a span over the next lines.
_PAREN_IMPORT = re.compile(rb"import[^\n]*\(")
_BLANKS_BEFORE = b" \t\f\v\r\n\\"


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
    names (see ``prefilter._chain_heads``): after ``import`` or a comma, or in ``from
    <head>`` followed by ``tail``, across blanks. A head at the start of a line may follow an import
    statement in the import region, which joins the lines of the statements."""
    window = data[max(0, at - 200) : at]
    kept = window.rstrip(_BLANKS_BEFORE)
    if not kept or b"\n" in window[len(kept) :] or kept.endswith((b",", b"import")):
        return True  # (no kept bytes: the start of the file, or blanks past the window)
    return kept.endswith(b"from") and tail.match(data, at + size) is not None


class Screen(NamedTuple):
    """The first test of Prefilter.needs_parse, which rules out most files."""

    passes: tuple[Anchored, ...]
    # What each undecided word is looked for as (see _import_lines).
    roles: dict[bytes, tuple[Role, ...]]
    relative: bool  # a relative import makes the file relevant (the graph mode)
    # (segment, first) of each group whose chosen segment the module name may supply.
    from_module: tuple[tuple[str, str | None], ...]
    hint: re.Pattern[str] | None  # finds any of those segments in a module name


def screened(screen: Screen, data: bytes, module: str) -> bool | None:
    """True: the file needs parsing; False: it does not; None: the thorough tests of
    ``Prefilter.needs_parse_unscreened`` decide, knowing that no decisive word is in the file."""
    newline = data.find(b"\n")
    second = data.find(b"\n", newline + 1) if newline != -1 else -1
    if data.find(b"coding", 0, second if second != -1 else len(data)) != -1:
        return True
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
    if found and _import_lines(data, module, screen, found):
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


def _import_lines(data: bytes, module: str, screen: Screen, found: list[Anchored]) -> bool:
    """Whether an undecided word the screen found may count: it stands on a line that
    holds ``import`` and has what its role needs. Only when the import region is the
    lines holding the ``import`` keyword (see ``bytescan.import_spans``): no line continued by a
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
                if not import_line(data, start):
                    continue
                for role in screen.roles[text]:
                    if role.chain:
                        # What Prefilter._chained needs besides the binding statement: the
                        # segments below, or getattr() on a name such a statement binds.
                        assert role.tail is not None
                        if not _binds_here(data, start, len(text), role.tail):
                            continue
                        if any(
                            all(has_identifier(data, part) for part in group)
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
                        other.decode() in module or identifier_on_import_line(data, other)
                        for other in role.others
                    ):
                        return True
    return False
