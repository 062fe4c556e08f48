"""The byte prefilter: which files need parsing, decided from their raw bytes alone.

The prefilter is sound: it only rules out a file when no import statement or expression in
it can resolve to a name the policy cares about. See :class:`Prefilter` for the argument.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from taskguard._policy import Policy
from taskguard._static.bytescan import (
    CALL_NAMES,
    IMPORTED_WORDS,
    NAMESPACE_NAMES,
    NAMESPACE_WORDS,
    PROTECTED_NAMES,
    PROTECTED_WORDS,
    has_identifier,
    has_relative_import,
    import_spans,
    imported_words_matter,
)

# Under another name: the method that wraps it has this one.
from taskguard._static.bytescan import expressions_matter as _expressions_matter
from taskguard._static.members import other_names
from taskguard._static.names import ancestors as _ancestors
from taskguard._static.records import DIRECTIVE_NEEDLES
from taskguard._static.screen import (
    ANYWHERE,
    ENDS,
    IDENTIFIER,
    NAME,
    Role,
    Screen,
    Word,
    chain_tail,
    screen_patterns,
    screened,
)


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
    mentions ``taskguard`` (suppression comments, also with capitals) or a word of
    :func:`bytescan.expressions_matter`
    (constant dynamic imports such as ``import_module``, ``__import__`` or ``resolve_name``,
    whose strings may be escaped or split, and the namespaces a lookup with a split or
    escaped key reaches them through: ``importlib``, ``builtins``, ``globals()``...).
    Otherwise every import
    in it is an import statement spelled with plain ASCII identifiers on the lines
    :func:`import_spans` keeps. A name matches a pattern only if every literal segment of
    the pattern is a segment of the name, and each segment of the name is spelled in the
    statement or, for a relative import, comes from the file's own module name (and then the
    name starts with the file's root package). So when some literal segment of every relevant
    pattern occurs in neither place, no import in the file can match. Protected modules also
    look for the other words of ``expressions_matter`` (``exec``, ``zipimport``,
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

        Decisive: the words of ``bytescan.expressions_matter`` but ``types``, as it looks
        for them, and ``taskguard`` in any of DIRECTIVE_NEEDLES' spellings:
        _whole_file_needles passes a file that holds one. The others only say that the
        thorough tests must decide: ``types`` (as an identifier), one segment of
        each group (as an identifier: groups are matched in the import region, a part of the
        file) unless the module name may supply it, the chain heads (as names: they count
        only in an import statement binding them, see _chain_heads), and in the graph mode
        whatever may start a relative import.
        """
        # Every spelling _whole_file_needles passes a file for (capitals included).
        words = [Word(needle, ANYWHERE, True) for needle in DIRECTIVE_NEEDLES]
        words += [
            Word(name, ENDS if name != b"__import__" else ANYWHERE, True) for name in CALL_NAMES
        ]
        words += [Word(word, ANYWHERE, True) for word in NAMESPACE_WORDS]
        words += [Word(name, NAME, True) for name in NAMESPACE_NAMES]
        if protected:
            words += [Word(word, ANYWHERE, True) for word in PROTECTED_WORDS]
            words += [Word(name, NAME, True) for name in PROTECTED_NAMES]
            words += [Word(word, IDENTIFIER, False) for word in IMPORTED_WORDS]
        from_module: list[tuple[str, str | None]] = []
        for segments, first in self.needles[True, protected]:
            # The longest segment is the most specific, the one most likely absent.
            needle, segment = segments[0]
            words.append(Word(needle, IDENTIFIER, False))
            if first != "":  # "": a root package's segment, never taken from the module
                from_module.append((segment, first))
        words += [Word(chain.head, NAME, False) for chain in self.chains[protected]]
        roles: dict[bytes, list[Role]] = {}
        if protected:
            for word in IMPORTED_WORDS:
                roles.setdefault(word, []).append(Role((), (), frozenset(), None, chain=False))
        for segments, _first in self.needles[True, protected]:
            needle = segments[0][0]
            others = tuple(other for other, _segment in segments[1:])
            roles.setdefault(needle, []).append(Role(others, (), frozenset(), None, chain=False))
        ancestors = _ancestors(self.chain_patterns[protected])
        for chain in self.chains[protected]:
            mine = [a.encode() for a in ancestors if a.partition(".")[0].encode() == chain.head]
            roles.setdefault(chain.head, []).append(
                Role((), chain.groups, chain.tails, chain_tail(chain.head, mine), chain=True)
            )
        hint = None
        if from_module:
            hint = re.compile("|".join(re.escape(segment) for segment, _first in from_module))
        return Screen(
            screen_patterns(words),
            {word: tuple(found) for word, found in roles.items()},
            self.graph,
            tuple(from_module),
            hint,
        )

    @staticmethod
    def _any_group(data: bytes, module: str, groups: Iterable[Needles], *, exact: bool) -> bool:
        """Whether every segment of some group occurs in ``data`` or the module name.

        ``exact`` looks for whole identifiers and whole module segments (used on the import
        region); otherwise any substring counts (a cheaper, weaker first pass).
        """
        parts: list[str] | None = None
        for segments, first in groups:
            for needle, segment in segments:
                if has_identifier(data, needle) if exact else needle in data:
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
        spans = import_spans(data)
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
        :func:`import_spans`, so the text after the last span holds none. Parsing the prefix
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
        """Whether the file may hold an import the policy judges (or a suppression)."""
        # The screen rules out most files in a few passes over the bytes; the tests below
        # take a dozen passes, and more for protected modules.
        if not data.isascii():
            return True
        verdict = screened(self.screens[protected], data, module)
        if verdict is not None:
            return verdict
        return self._import_tests(data, module, protected)

    def needs_parse_unscreened(self, data: bytes, module: str, protected: bool) -> bool:
        """:meth:`needs_parse` without its screen: the same answer, slower."""
        if self._whole_file_needles(data, protected):
            return True
        return self._import_tests(data, module, protected)

    def _import_tests(self, data: bytes, module: str, protected: bool) -> bool:
        """needs_parse_unscreened once _whole_file_needles is known to be False, but maybe
        for the words of IMPORTED_WORDS (which only count in import statements)."""
        if protected and imported_words_matter(data, self._spans):
            return True
        # The whole file first (fast C searches); only a hit pays for cutting out the region.
        spelled = self._any_group(data, module, self.needles[False, protected], exact=False)
        chains = [chain for chain in self.chains[protected] if chain.head in data]
        if not spelled and not chains and not (self.graph and has_relative_import(data)):
            return False
        spans = self._spans(data)
        region = data if spans is None else b"\n".join(data[start:end] for start, end in spans)
        return (
            (spelled and self._any_group(region, module, self.needles[True, protected], exact=True))
            or (self.graph and has_relative_import(region))
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
        if any(all(has_identifier(data, segment) for segment in group) for group in groups):
            return True
        if b"getattr" not in data:
            return False
        names = {*tails, *_AS_NAME.findall(region)}
        return any(match.group(1) in names for match in _GETATTR_FIRST_NAME.finditer(data))
