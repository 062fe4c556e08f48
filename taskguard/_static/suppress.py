"""Inline suppressions: the ``# taskguard: ignore[CODE] -- reason`` comments of a file.

Every comment segment that starts ``# taskguard`` (the whole comment, or a later ``#`` in it:
``# noqa: F401  # taskguard: ignore[TG002] -- reason``) is either a valid suppression or a
:class:`Suppression` whose ``problem`` says what is wrong with it (reported as TG005): a
malformed suppression never silently suppresses nothing.

Comments are found with the tokenizer, so strings never count, on the source with its line
ends made ``\\n`` first: Python splits lines on ``\\n``, ``\\r\\n`` and a lone ``\\r`` alike,
while :mod:`tokenize` reading bytes splits on ``\\n`` only.
"""

from __future__ import annotations

import io
import re
import tokenize

from taskguard._rules import RULES, TG900
from taskguard._static.records import Suppression

# Where a directive starts in a comment: a "#" (the comment's own or a later one), blanks,
# "taskguard", then ":" or, forgotten, a blank and "ignore" (or "-ignore"/"_ignore"). Also
# spelled with capitals ("TASKGUARD", "TaskGuard"), so that such a directive is told to be
# lower case, not silently ignored: every spelling holds one of DIRECTIVE_NEEDLES.
_START = re.compile(r"#\s*([Tt]ask[Gg]uard|TASKGUARD)(?:\s*:|(?=[\s_-]*ignore\b))")
# The end of the reason: another tool's directive later in the same comment.
_NEXT_DIRECTIVE = re.compile(r"\s#\s*(?:noqa\b|(?:[Tt]ask[Gg]uard|TASKGUARD)\b|[A-Za-z][\w-]*\s*:)")
_VERB = re.compile(r"\s*([\w-]*)")
_DASHES = {"\u2014": "an em dash", "\u2013": "an en dash", "\u2212": "a minus sign"}
_EXAMPLE = "write '# taskguard: ignore[TG002] -- why this is fine'"


def _problem(text: str) -> tuple[tuple[str, ...], str]:
    """``(codes, problem)`` of one directive, ``text`` starting just after "# taskguard"."""
    if not text.lstrip().startswith(":"):
        return (), f"no ':' after 'taskguard': {_EXAMPLE}"
    rest = text.lstrip()[1:]
    verb_match = _VERB.match(rest)
    assert verb_match is not None  # matches the empty string
    verb = verb_match.group(1)
    rest = rest[verb_match.end() :].lstrip()
    if verb != "ignore":
        return (), f"unknown directive 'taskguard: {verb}' (expected 'taskguard: ignore')"
    if not rest.startswith("["):
        return (), f"no codes: {_EXAMPLE}"
    closing = rest.find("]")
    if closing == -1:
        return (), f"no closing ']' after the codes: {_EXAMPLE}"
    codes = tuple(c.strip().upper() for c in re.split(r"[,\s]+", rest[1:closing]) if c.strip())
    rest = rest[closing + 1 :].strip()
    if not codes:
        return codes, f"no codes: {_EXAMPLE}"
    unknown = [c for c in codes if c not in RULES]
    if unknown:
        return codes, f"unknown code {', '.join(unknown)}; known: {', '.join(sorted(RULES))}"
    if TG900.code in codes:
        return codes, "TG900 cannot be suppressed: fix the file or exclude it"
    if rest.startswith("--"):
        if not rest[2:].strip():
            return codes, "no reason: write '-- why this is fine' after the codes"
        return codes, ""
    if not rest:
        return codes, "no reason: write '-- why this is fine' after the codes"
    if rest[0] in _DASHES:
        return codes, f"{_DASHES[rest[0]]} before the reason: write '--' (two ASCII hyphens)"
    if rest.startswith("-"):
        return codes, "one dash before the reason: write '--' (two hyphens)"
    return codes, "no '--' before the reason: write '-- why this is fine' after the codes"


def parse_comment(comment: str) -> list[tuple[tuple[str, ...], str]]:
    """``(codes, problem)`` for every directive in one comment (most have none)."""
    out: list[tuple[tuple[str, ...], str]] = []
    starts = list(_START.finditer(comment))
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(comment)
        text = comment[match.end() - (1 if match.group().endswith(":") else 0) : end]
        following = _NEXT_DIRECTIVE.search(text, 1)
        if following is not None:
            text = text[: following.start()]
        codes, problem = _problem(text)
        if match.group(1) != "taskguard":
            problem = f"'{match.group(1)}' in place of 'taskguard': {_EXAMPLE} (in lower case)"
        out.append((codes, problem))
    return out


def _comments(data: bytes) -> list[tuple[int, str]]:
    """(line, text) of every comment, with Python's line numbering."""
    normalised = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return [
        (token.start[0], token.string)
        for token in tokenize.tokenize(io.BytesIO(normalised).readline)
        if token.type == tokenize.COMMENT
    ]


def suppressions(data: bytes) -> tuple[Suppression, ...]:
    """Every ``# taskguard`` directive of the file, valid or not."""
    out: list[Suppression] = []
    try:
        comments = _comments(data)
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError) as error:
        # The file parsed, so this Python's tokenizer disagrees with its parser. Guessing
        # comments from the text would let a string suppress an import: none applies, and
        # the file says why (fail closed).
        problem = f"the comments of this file could not be read ({type(error).__name__}: {error})"
        return (Suppression(1, (), problem),)
    for line, comment in comments:
        if "askguard" not in comment and "askGuard" not in comment and "ASKGUARD" not in comment:
            continue
        for codes, problem in parse_comment(comment):
            out.append(Suppression(line, codes, problem))
    return tuple(out)
