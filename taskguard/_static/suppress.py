"""Inline suppressions: the ``# taskguard: ignore[CODE] -- reason`` comments of a file."""

from __future__ import annotations

import io
import re
import tokenize

from taskguard._rules import RULES
from taskguard._static.records import Suppression

_SUPPRESSION = re.compile(
    r"#\s*taskguard\s*:\s*(?P<verb>\w*)\s*(?:\[(?P<codes>[^\]]*)\])?\s*"
    r"(?:--\s*(?P<reason>.*?))?\s*$"
)


def suppressions(data: bytes) -> tuple[Suppression, ...]:
    """Every ``# taskguard: ...`` comment, found with the tokenizer so strings never count."""
    out: list[Suppression] = []
    try:
        tokens = list(tokenize.tokenize(io.BytesIO(data).readline))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):  # pragma: no cover
        return ()
    for token in tokens:
        if token.type != tokenize.COMMENT or "taskguard" not in token.string:
            continue
        match = _SUPPRESSION.match(token.string)
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
        out.append(Suppression(line, codes, problem))
    return tuple(out)
