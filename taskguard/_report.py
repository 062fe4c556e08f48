"""Render a :class:`CheckResult` as text, JSON, GitHub annotations or SARIF 2.1.0.

Every renderer returns a string; only the CLI writes it. Paths are the ones the checker put
into each :class:`Violation`: relative to the working directory, ``/``-separated.
"""

from __future__ import annotations

from collections import Counter

from taskguard._rules import HINT, RULES

# Not ``from typing import ...``: a cached run of ``taskguard check`` does not import typing.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from taskguard._rules import Violation
    from taskguard._static import CheckResult

FORMATS = ("text", "json", "github", "sarif")
JSON_VERSION = 1
# Codes whose fix is "go through the sanctioned dispatcher" (the hint line says so).
_DISPATCH_CODES = frozenset({"TG001", "TG002", "TG003", "TG004"})

_RESET = "\033[0m"
_BOLD = "\033[1m"
_RED = "\033[31m"
_GREEN = "\033[32m"
_YELLOW = "\033[33m"
_DIM = "\033[2m"


def rule_page(code: str) -> str:
    """The Markdown page of a rule, shipped inside the package (``taskguard/rules/``)."""
    from importlib.resources import files

    code = code.upper()
    if code not in RULES:
        raise KeyError(code)
    return (files("taskguard") / "rules" / f"{code}.md").read_text(encoding="utf-8")


def render(result: CheckResult, fmt: str = "text", *, color: bool = False) -> str:
    if fmt == "text":
        return text(result, color=color)
    if fmt == "json":
        return to_json(result)
    if fmt == "github":
        return github(result)
    if fmt == "sarif":
        return sarif(result)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def text(result: CheckResult, *, color: bool = False) -> str:
    """``path:line:col: CODE message`` lines grouped by file, a hint and a summary line."""

    def paint(value: str, *styles: str) -> str:
        return "".join(styles) + value + _RESET if color else value

    lines: list[str] = []
    current: str | None = None
    for v in result.violations:
        if v.path != current:
            if current is not None:
                lines.append("")
            current = v.path
        code_style = _YELLOW if v.code in ("TG005",) else _RED
        lines.append(
            f"{paint(v.path, _BOLD)}:{v.line}:{v.column}: "
            f"{paint(v.code, _BOLD, code_style)} {v.message}"
        )
    checked = _plural(result.files_checked, "file")
    # With a baseline, what it accepted is counted, never listed: those are not failures.
    baselined = (
        f"; {len(result.baselined)} baselined ({result.baseline})"
        if result.baseline is not None
        else ""
    )
    if not result.violations:
        clean = "No new violations" if result.baseline is not None else "No violations"
        lines.append(paint(f"{clean}: {checked} checked{baselined}.", _GREEN))
        return "\n".join(lines) + "\n"
    lines.append("")
    codes = {v.code for v in result.violations}
    if codes & _DISPATCH_CODES:
        lines.append(paint(f"hint: {HINT}", _DIM))
    per_code = Counter(v.code for v in result.violations)
    breakdown = ", ".join(f"{code} {n}" for code, n in sorted(per_code.items()))
    files = len({v.path for v in result.violations})
    summary = (
        f"Found {_plural(len(result.violations), 'violation')} in {_plural(files, 'file')} "
        f"({breakdown}); {checked} checked{baselined}. 'taskguard explain CODE' describes "
        "a rule."
    )
    lines.append(paint(summary, _BOLD, _RED))
    return "\n".join(lines) + "\n"


def _as_json(v: Violation) -> dict[str, Any]:
    return {
        "code": v.code,
        "path": v.path,
        "line": v.line,
        "column": v.column,
        "importer": v.importer,
        "imported": None if v.code in ("TG003", "TG900") else v.imported,
        "message": v.message,
    }


def to_json(result: CheckResult) -> str:
    """The JSON document, exactly as ``json.dumps(document, indent=2)`` writes it.

    Written here because importing the json package (its decoder included) costs more than
    writing a few hundred violations; the document only holds strings, integers and null.
    """
    quote = _json_quote()

    def listed(violations: tuple[Violation, ...]) -> str:
        items = []
        for v in violations:
            body = ",\n".join(
                f"      {quote(key)}: "
                + (
                    "null"
                    if value is None
                    else quote(value)
                    if isinstance(value, str)
                    else str(value)
                )
                for key, value in _as_json(v).items()
            )
            items.append(f"    {{\n{body}\n    }}")
        return "[\n" + ",\n".join(items) + "\n  ]" if items else "[]"

    # With a baseline, "violations" holds the failures; the baselined ones follow apart.
    baseline = (
        f',\n  "baseline": {quote(result.baseline)},\n  "baselined": {listed(result.baselined)}'
        if result.baseline is not None
        else ""
    )
    return (
        f'{{\n  "version": {JSON_VERSION},\n  "files_checked": {result.files_checked},\n'
        f'  "violations": {listed(result.violations)}{baseline}\n}}\n'
    )


def _json_quote() -> Callable[[str], str]:
    """A JSON string literal, ASCII only (json.dumps' default), from the json package's C
    helper when there is one."""
    try:
        from _json import encode_basestring_ascii
    except ImportError:  # pragma: no cover - not CPython
        from json.encoder import py_encode_basestring_ascii as encode_basestring_ascii
    return encode_basestring_ascii


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(result: CheckResult) -> str:
    """GitHub Actions workflow commands: one ``::error`` annotation per violation."""
    lines = [
        f"::error file={_escape_property(v.path)},line={v.line},col={v.column},"
        f"title={_escape_property(f'taskguard {v.code}')}::{_escape_data(v.message)}"
        for v in result.violations
    ]
    baselined = f"{len(result.baselined)} baselined, " if result.baseline is not None else ""
    lines.append(
        f"taskguard: {_plural(len(result.violations), 'violation')}, {baselined}"
        f"{_plural(result.files_checked, 'file')} checked"
    )
    return "\n".join(lines) + "\n"


def sarif(result: CheckResult) -> str:
    """A SARIF 2.1.0 log with one run, one reporting descriptor per rule code."""
    import json
    import os
    from pathlib import Path
    from urllib.parse import quote

    from taskguard import __version__

    codes = sorted(RULES)
    rules = []
    for code in codes:
        rule = RULES[code]
        page = rule_page(code)
        rules.append(
            {
                "id": code,
                "name": rule.name,
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": rule.summary},
                "help": {"text": page, "markdown": page},
                "defaultConfiguration": {"level": "error"},
            }
        )
    results = []
    with_baseline = result.baseline is not None
    for v, accepted in (
        *((v, False) for v in result.violations),
        *((v, True) for v in result.baselined),
    ):
        location: dict[str, Any] = {
            "physicalLocation": {
                # A URI reference: a space, "%", "#", "?" or a newline in a file name is
                # percent-encoded (SARIF consumers reject or misread it raw).
                "artifactLocation": {"uri": quote(v.path, safe="/")},
                "region": {"startLine": v.line, "startColumn": v.column},
            }
        }
        if not v.path.startswith("/"):
            location["physicalLocation"]["artifactLocation"]["uriBaseId"] = "%SRCROOT%"
        item: dict[str, Any] = {
            "ruleId": v.code,
            "ruleIndex": codes.index(v.code),
            "level": "error",
            "message": {"text": v.message},
            "locations": [location],
        }
        if with_baseline:
            # SARIF's own words for a baseline: the state against it, and a suppression
            # kept outside the source for each result it accepted.
            item["baselineState"] = "unchanged" if accepted else "new"
        if accepted:
            item["suppressions"] = [
                {
                    "kind": "external",
                    "justification": f"recorded in the taskguard baseline {result.baseline}",
                }
            ]
        results.append(item)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "taskguard",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"
