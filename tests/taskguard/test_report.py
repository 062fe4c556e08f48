"""The report formats: text, JSON, GitHub annotations, SARIF 2.1.0."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskguard import RULES, CheckResult, Violation
from taskguard._report import github, render, rule_page, sarif, text, to_json

REPO = Path(__file__).resolve().parents[2]

RESULT = CheckResult(
    (
        Violation(
            "app/api/routers/a.py",
            1,
            1,
            "TG002",
            "app.api.routers.a",
            "httpx",
            "app.api.routers.a (protected by app.api.routers) imports forbidden httpx",
        ),
        Violation(
            "app/api/routers/a.py",
            7,
            5,
            "TG003",
            "app.api.routers.a",
            "ignored",
            "app.api.routers.a (protected by app.api.routers) uses eval(); cannot verify",
        ),
        Violation(
            "app/odd, name.py",
            2,
            3,
            "TG900",
            None,
            None,
            "could not parse app/odd, name.py: 100% broken\nsecond line",
        ),
    ),
    12,
)
CLEAN = CheckResult((), 12)


def test_text_groups_by_file_with_hint_and_summary() -> None:
    out = text(RESULT)
    assert out == (
        "app/api/routers/a.py:1:1: TG002 app.api.routers.a (protected by app.api.routers) "
        "imports forbidden httpx\n"
        "app/api/routers/a.py:7:5: TG003 app.api.routers.a (protected by app.api.routers) "
        "uses eval(); cannot verify\n"
        "\n"
        "app/odd, name.py:2:3: TG900 could not parse app/odd, name.py: 100% broken\n"
        "second line\n"
        "\n"
        "hint: use dispatch.enqueue_http_task() to dispatch background work\n"
        "Found 3 violations in 2 files (TG002 1, TG003 1, TG900 1); 12 files checked. "
        "'taskguard explain CODE' describes a rule.\n"
    )
    assert "\033[" not in out


def test_text_clean_run_and_hint_only_for_dispatch_rules() -> None:
    assert text(CLEAN) == "No violations: 12 files checked.\n"
    only_tg900 = CheckResult(RESULT.violations[2:], 1)
    assert "hint:" not in text(only_tg900)
    assert "1 file checked" in text(only_tg900)


def test_text_colour_only_when_asked() -> None:
    coloured = text(RESULT, color=True)
    assert "\033[1mapp/api/routers/a.py\033[0m:1:1: \033[1m\033[31mTG002\033[0m" in coloured
    plain = re.sub(r"\033\[[0-9;]*m", "", coloured)
    assert plain == text(RESULT)


def test_json_document() -> None:
    document = json.loads(to_json(RESULT))
    assert document["version"] == 1
    assert document["files_checked"] == 12
    assert document["violations"][0] == {
        "code": "TG002",
        "path": "app/api/routers/a.py",
        "line": 1,
        "column": 1,
        "importer": "app.api.routers.a",
        "imported": "httpx",
        "message": "app.api.routers.a (protected by app.api.routers) imports forbidden httpx",
    }
    # imported is null for TG003 and TG900, whatever the record says.
    assert [v["imported"] for v in document["violations"]] == ["httpx", None, None]
    assert json.loads(to_json(CLEAN))["violations"] == []


def reference_json(result: CheckResult) -> str:
    """What to_json wrote when it called the json package (it no longer imports it)."""
    document = {
        "version": 1,
        "files_checked": result.files_checked,
        "violations": [
            {
                "code": v.code,
                "path": v.path,
                "line": v.line,
                "column": v.column,
                "importer": v.importer,
                "imported": None if v.code in ("TG003", "TG900") else v.imported,
                "message": v.message,
            }
            for v in result.violations
        ],
    }
    return json.dumps(document, indent=2) + "\n"


texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    [
        '"quoted"',
        "bad\udcff.py",
        "back\\slash",
        "tab\tnew\nline",
        "\x00\x1f\x7f",
        "é\u2028😀",
        "</script>",
    ]
)
violations = st.builds(
    Violation,
    texts,
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=500),
    st.sampled_from(sorted(RULES)),
    st.none() | texts,
    st.none() | texts,
    texts,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(violations, max_size=4), st.integers(min_value=0, max_value=10**7))
def test_json_is_written_exactly_as_the_json_package_writes_it(
    found: list[Violation], files_checked: int
) -> None:
    result = CheckResult(tuple(found), files_checked)
    assert to_json(result) == reference_json(result)


def test_github_annotations_escape_their_data() -> None:
    lines = github(RESULT).splitlines()
    assert lines[0] == (
        "::error file=app/api/routers/a.py,line=1,col=1,title=taskguard TG002::"
        "app.api.routers.a (protected by app.api.routers) imports forbidden httpx"
    )
    assert lines[2] == (
        "::error file=app/odd%2C name.py,line=2,col=3,title=taskguard TG900::"
        "could not parse app/odd, name.py: 100%25 broken%0Asecond line"
    )
    assert lines[-1] == "taskguard: 3 violations, 12 files checked"


def test_sarif_is_a_valid_2_1_0_log() -> None:
    log = json.loads(sarif(RESULT))
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "taskguard"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", driver["semanticVersion"])
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids == sorted(RULES)  # one reporting descriptor per code
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["help"]["text"].startswith(f"# {rule['id']}")
        assert rule["defaultConfiguration"]["level"] in ("none", "note", "warning", "error")
    assert run["columnKind"] in ("utf16CodeUnits", "unicodeCodePoints")
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base.startswith("file://")
    assert base.endswith("/")
    assert len(run["results"]) == len(RESULT.violations)
    for result, violation in zip(run["results"], RESULT.violations, strict=True):
        assert result["ruleId"] == violation.code
        assert driver["rules"][result["ruleIndex"]]["id"] == violation.code
        assert result["level"] in ("none", "note", "warning", "error")
        assert result["message"]["text"] == violation.message
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {
            "uri": quote(violation.path, safe="/"),
            "uriBaseId": "%SRCROOT%",
        }
        assert unquote(physical["artifactLocation"]["uri"]) == violation.path
        assert physical["region"] == {
            "startLine": violation.line,
            "startColumn": violation.column,
        }
    assert json.loads(sarif(CLEAN))["runs"][0]["results"] == []


def test_sarif_uris_are_percent_encoded_file_names() -> None:
    # A raw space, "%", "#" or newline makes an invalid URI that SARIF consumers reject or
    # misread ("#" would start a fragment): each is percent-encoded, "/" stays.
    names = {
        "app/odd, name.py": "app/odd%2C%20name.py",
        "app/100%#?.py": "app/100%25%23%3F.py",
        "app/nl\nx.py": "app/nl%0Ax.py",
        "app/caf\u00e9.py": "app/caf%C3%A9.py",
        "/abs/dir/m.py": "/abs/dir/m.py",
    }
    result = CheckResult(
        tuple(Violation(path, 1, 1, "TG900", None, None, "x") for path in names), len(names)
    )
    log = json.loads(sarif(result))
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    ]
    assert uris == list(names.values())


def test_render_dispatches_and_rejects_unknown_formats() -> None:
    assert render(RESULT, "json") == to_json(RESULT)
    assert render(RESULT) == text(RESULT)
    with pytest.raises(ValueError, match="unknown format"):
        render(RESULT, "xml")


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_pages_ship_in_the_package_and_match_the_docs(code: str) -> None:
    page = rule_page(code.lower())
    assert page == (REPO / "docs" / "rules" / f"{code}.md").read_text(encoding="utf-8")
    assert page.startswith(f"# {code}: ")
    for section in ("## What it does", "## Why it matters", "## Example", "## Use instead"):
        assert section in page


def test_no_stray_rule_pages() -> None:
    shipped = {p.stem for p in (REPO / "taskguard" / "rules").glob("*.md")}
    documented = {p.stem for p in (REPO / "docs" / "rules").glob("*.md")}
    assert shipped == documented == set(RULES)
    with pytest.raises(KeyError):
        rule_page("TG999")
