"""The baseline through the installed ``taskguard`` console script, and in every report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _check_support import age_tree, run_cli, write_project
from hypothesis import given, settings
from hypothesis import strategies as st

from taskguard import CheckResult, Violation
from taskguard._report import github, render, sarif, text, to_json

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.api"]
forbidden-in-protected = ["httpx", "requests"]
"""
ROUTER = "app/api/routers.py"
LEGACY = """\
import importlib
import httpx
from google.cloud import tasks_v2


def notify(name):
    return importlib.import_module(name)
"""
BASELINE = "taskguard-baseline.json"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(
        tmp_path / "proj", {ROUTER: LEGACY, "app/domain.py": "import json\n"}, TABLE
    )


def edit(root: Path, rel: str, source: str) -> None:
    (root / rel).write_text(source, encoding="utf-8")
    age_tree(root)  # outside the cache's racy window, so cached runs see the edit as usual


def record(root: Path, *args: str) -> tuple[str, str]:
    done = run_cli(["check", "--write-baseline", *args], root)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, done.stderr


def entries(root: Path, name: str = BASELINE) -> list[dict[str, object]]:
    document = json.loads((root / name).read_text(encoding="utf-8"))
    assert document["version"] == 1
    result: list[dict[str, object]] = document["entries"]
    return result


# --------------------------------------------------------------------------- the cycle


def test_write_baseline_records_and_the_next_check_passes(project: Path) -> None:
    assert run_cli(["check"], project).returncode == 1
    stdout, stderr = record(project)
    assert stderr.splitlines() == [
        f"taskguard: wrote {BASELINE}: 3 violations recorded (3 added, 0 removed)",
        "  + TG001 app.api.routers -> google.cloud.tasks_v2: from google.cloud import tasks_v2",
        "  + TG002 app.api.routers -> httpx: import httpx",
        "  + TG003 app.api.routers: importlib.import_module(name)",
    ]
    assert stdout == f"No new violations: 4 files checked; 3 baselined ({BASELINE}).\n"
    assert [(e["code"], e["statement"], e["count"]) for e in entries(project)] == [
        ("TG001", "from google.cloud import tasks_v2", 1),
        ("TG002", "import httpx", 1),
        ("TG003", "importlib.import_module(name)", 1),
    ]
    again = run_cli(["check"], project)
    assert again.returncode == 0, again.stdout
    assert again.stdout == stdout
    assert again.stderr == ""


def test_new_violations_fail_and_baselined_ones_are_counted(project: Path) -> None:
    record(project)
    edit(project, ROUTER, LEGACY + "import requests\n")
    done = run_cli(["check"], project)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "app/api/routers.py:8:1: TG002 app.api.routers (protected by app.api) imports "
        "forbidden requests"
    )
    assert lines[-1].startswith(
        f"Found 1 violation in 1 file (TG002 1); 4 files checked; 3 baselined ({BASELINE})."
    )
    assert "import httpx" not in done.stdout


def test_moved_and_reformatted_imports_stay_baselined_a_copy_is_new(project: Path) -> None:
    record(project)
    moved = '''\
"""Module docstring added."""
from google.cloud import (
    tasks_v2,
)


def notify(name):
    import importlib
    return importlib.import_module(
        name
    )


import httpx  # moved down
'''
    edit(project, ROUTER, moved)
    assert run_cli(["check"], project).returncode == 0
    edit(project, ROUTER, moved + "\n\ndef again():\n    import httpx\n")
    done = run_cli(["check"], project)
    assert done.returncode == 1
    [failure] = [line for line in done.stdout.splitlines() if ": TG" in line]
    assert failure.startswith("app/api/routers.py:18:5: TG002 ")


def test_fixed_violations_are_stale_until_the_file_shrinks(project: Path) -> None:
    record(project)
    edit(project, ROUTER, LEGACY.replace("import httpx\n", ""))
    done = run_cli(["check"], project)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        f"{BASELINE}:5:1: TG005 baseline entry TG002 app.api.routers -> httpx: import httpx "
        "matched nothing; remove it"
    )
    # Partial runs cannot tell that an entry is stale.
    assert run_cli(["check", "app/api"], project).returncode == 0
    _stdout, stderr = record(project)
    assert stderr.splitlines() == [
        f"taskguard: wrote {BASELINE}: 2 violations recorded (0 added, 1 removed)",
        "  - TG002 app.api.routers -> httpx: import httpx",
    ]
    assert len(entries(project)) == 2
    assert run_cli(["check"], project).returncode == 0
    # Deleting an entry by hand is a valid edit: that violation is new again.
    (project / BASELINE).write_text(
        json.dumps({"version": 1, "entries": entries(project)[1:]}), encoding="utf-8"
    )
    assert run_cli(["check"], project).returncode == 1


def test_entries_of_a_file_that_cannot_be_judged_are_not_called_stale(project: Path) -> None:
    # The file breaks: what it imports is unknown, so its entries are not "matched nothing;
    # remove it" (that advice would drop them); the file is TG900, and once it parses again
    # without the imports, the entries are stale.
    record(project)
    edit(project, ROUTER, LEGACY + "def broken(:\n")
    done = run_cli(["check"], project)
    assert done.returncode == 1
    codes = [line.split()[1] for line in done.stdout.splitlines() if ": TG" in line]
    assert codes == ["TG900"]
    edit(project, ROUTER, "import json\n")
    done = run_cli(["check"], project)
    stale = [line for line in done.stdout.splitlines() if " TG005 baseline entry " in line]
    assert len(stale) == 3


def test_rewriting_prints_added_entries_and_counts(project: Path) -> None:
    record(project)
    edit(project, ROUTER, LEGACY + "def f():\n    import httpx\n\ndef g():\n    import httpx\n")
    _stdout, stderr = record(project)
    assert stderr.splitlines() == [
        f"taskguard: wrote {BASELINE}: 5 violations recorded (2 added, 0 removed)",
        "  + TG002 app.api.routers -> httpx: import httpx (x2)",
    ]
    [httpx] = [e for e in entries(project) if e["imported"] == "httpx"]
    assert httpx["count"] == 3
    _stdout, stderr = record(project)
    assert stderr == f"taskguard: wrote {BASELINE}: 5 violations recorded (no change)\n"


def test_tg900_and_tg005_are_never_baselined(project: Path) -> None:
    edit(project, "app/api/broken.py", "import httpx\ndef (:\n")
    edit(project, "app/api/other.py", "import json  # taskguard: ignore[TG002] -- not needed\n")
    done = run_cli(["check", "--write-baseline"], project)
    assert done.returncode == 1
    assert {e["code"] for e in entries(project)} == {"TG001", "TG002", "TG003"}
    codes = [line.split(": ")[1].split()[0] for line in done.stdout.splitlines() if ": TG" in line]
    assert sorted(codes) == ["TG005", "TG900"]
    assert run_cli(["check"], project).returncode == 1


def test_what_the_checker_reports_always_loads_again(tmp_path: Path) -> None:
    # Module names come from file names and imported names from strings: whatever they are,
    # a recorded baseline must load on the next run.
    root = write_project(
        tmp_path / "odd",
        {
            "app/api/my-router.py": "import httpx\n",
            "app/api/ünï.py": 'import importlib\nm = importlib.import_module("httpx.a b")\n',
        },
        TABLE,
    )
    _stdout, stderr = record(root)
    assert "app.api.my-router -> httpx: import httpx" in stderr
    assert "app.api.ünï -> httpx.a b: importlib.import_module('httpx.a b')" in stderr
    again = run_cli(["check"], root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 baselined" in again.stdout


# --------------------------------------------------------------------------- formats


def test_json_lists_baselined_violations_apart(project: Path) -> None:
    record(project)
    edit(project, ROUTER, LEGACY + "import requests\n")
    done = run_cli(["check", "--format", "json"], project)
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert list(document) == ["version", "files_checked", "violations", "baseline", "baselined"]
    assert [v["imported"] for v in document["violations"]] == ["requests"]
    assert document["baseline"] == BASELINE
    assert sorted(v["code"] for v in document["baselined"]) == ["TG001", "TG002", "TG003"]
    # --write-baseline reports what changed on stderr, so stdout stays one JSON document.
    written = run_cli(["check", "--write-baseline", "--format", "json"], project)
    assert written.returncode == 0
    assert json.loads(written.stdout)["violations"] == []
    assert "1 added" in written.stderr


def test_json_without_a_baseline_file_is_unchanged(project: Path) -> None:
    document = json.loads(run_cli(["check", "--format", "json"], project).stdout)
    assert list(document) == ["version", "files_checked", "violations"]


def test_github_annotates_failures_only(project: Path) -> None:
    record(project)
    edit(project, ROUTER, LEGACY + "import requests\n")
    done = run_cli(["check", "--format", "github"], project)
    assert done.returncode == 1
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1
    assert "requests" in annotations[0]
    assert done.stdout.splitlines()[-1] == "taskguard: 1 violation, 3 baselined, 4 files checked"


def test_sarif_marks_baselined_results_as_suppressed(project: Path) -> None:
    record(project)
    edit(project, ROUTER, LEGACY + "import requests\n")
    done = run_cli(["check", "--format", "sarif"], project)
    assert done.returncode == 1
    results = json.loads(done.stdout)["runs"][0]["results"]
    new = [r for r in results if r["baselineState"] == "new"]
    unchanged = [r for r in results if r["baselineState"] == "unchanged"]
    assert len(new) == 1
    assert "suppressions" not in new[0]
    assert len(unchanged) == 3
    for r in unchanged:
        [suppression] = r["suppressions"]
        assert suppression["kind"] == "external"
        assert BASELINE in suppression["justification"]


# --------------------------------------------------------------------------- options


def test_no_baseline_reports_everything(project: Path) -> None:
    record(project)
    done = run_cli(["check", "--no-baseline"], project)
    assert done.returncode == 1
    assert "baselined" not in done.stdout
    assert done.stdout.count(": TG00") == 3


def test_select_filters_the_report_after_matching(project: Path) -> None:
    record(project)
    selected = run_cli(["check", "--select", "TG002"], project)
    assert selected.returncode == 0
    assert selected.stdout == f"No new violations: 4 files checked; 1 baselined ({BASELINE}).\n"
    # Stale entries are TG005: shown only when TG005 is selected.
    edit(project, ROUTER, LEGACY.replace("import httpx\n", ""))
    assert run_cli(["check", "--select", "TG002"], project).returncode == 0
    stale = run_cli(["check", "--select", "TG005"], project)
    assert stale.returncode == 1
    assert "baseline entry TG002" in stale.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--no-baseline"], "not allowed with argument --write-baseline"),
        (["--select", "TG002"], "cannot take --select"),
        (["app"], "records the whole project"),
    ],
)
def test_write_baseline_refuses_partial_records(
    project: Path, args: list[str], fragment: str
) -> None:
    done = run_cli(["check", "--write-baseline", *args], project)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr
    assert not (project / BASELINE).exists()


def test_write_baseline_accepts_the_project_root_as_path(project: Path) -> None:
    record(project, ".")
    assert len(entries(project)) == 3


def test_the_baseline_key_moves_the_file(project: Path) -> None:
    (project / "pyproject.toml").write_text(TABLE + 'baseline = "ci/tg-baseline.json"\n')
    (project / "ci").mkdir()
    _stdout, stderr = record(project)
    assert stderr.startswith("taskguard: wrote ci/tg-baseline.json: 3 violations")
    assert len(entries(project, "ci/tg-baseline.json")) == 3
    assert not (project / BASELINE).exists()
    # From a subdirectory, paths are shown relative to it and the file is still found.
    done = run_cli(["check"], project / "app")
    assert done.returncode == 0, done.stdout
    assert "3 baselined (../ci/tg-baseline.json)" in done.stdout


def test_a_baseline_that_cannot_be_written_is_exit_2(project: Path) -> None:
    (project / "pyproject.toml").write_text(TABLE + 'baseline = "missing/b.json"\n')
    done = run_cli(["check", "--write-baseline"], project)
    assert done.returncode == 2
    assert "invalid baseline missing/b.json: cannot write" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_baseline_key_is_a_policy_error(project: Path) -> None:
    (project / "pyproject.toml").write_text(TABLE + "baseline = 3\n")
    done = run_cli(["check"], project)
    assert done.returncode == 2
    assert "baseline: expected a path (a string), got int" in done.stderr


# --------------------------------------------------------------------------- bad files

GOOD = {
    "code": "TG002",
    "importer": "app.api.routers",
    "imported": "httpx",
    "statement": "import httpx",
    "count": 1,
}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "not valid JSON"),
        ("{'version': 1}", "not valid JSON"),
        ('{"version": 2, "entries": []}', "version 2 is not supported"),
        ('{"entries": []}', "version: missing"),
        ("[]", "expected a JSON object"),
        (json.dumps({"version": 1, "entries": [{**GOOD, "count": 0}]}), "entries[0].count"),
        (json.dumps({"version": 1, "entries": [{**GOOD, "code": "TG900"}]}), "never baselined"),
        (json.dumps({"version": 1, "entries": [GOOD, GOOD]}), "duplicate of entries[0]"),
        (json.dumps({"version": 1, "entries": [{**GOOD, "statement": "import ("}]}), "statement"),
        # Hand edits that parse but are no statement, or two: nothing could ever match them.
        (
            json.dumps({"version": 1, "entries": [{**GOOD, "statement": "# import httpx"}]}),
            "entries[0].statement: expected one statement, got none",
        ),
        (
            json.dumps(
                {"version": 1, "entries": [{**GOOD, "statement": "import httpx; import os"}]}
            ),
            "entries[0].statement: expected one statement, got 2",
        ),
    ],
)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_bad_baseline_is_exit_2_naming_file_and_problem(
    project: Path, content: str, fragment: str, fmt: str
) -> None:
    (project / BASELINE).write_text(content, encoding="utf-8")
    done = run_cli(["check", "--format", fmt], project)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"taskguard: error: invalid baseline {BASELINE}")
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr
    # --write-baseline does not overwrite what it cannot diff against.
    written = run_cli(["check", "--write-baseline"], project)
    assert written.returncode == 2
    assert fragment in written.stderr
    assert "delete it to record a new baseline" in written.stderr
    assert (project / BASELINE).read_text(encoding="utf-8") == content


def test_a_directory_or_unreadable_baseline_is_exit_2(project: Path) -> None:
    (project / BASELINE).mkdir()
    done = run_cli(["check"], project)
    assert done.returncode == 2
    assert f"invalid baseline {BASELINE}: cannot read" in done.stderr


def test_a_dangling_symlink_is_not_an_empty_baseline(project: Path) -> None:
    (project / BASELINE).symlink_to(project / "nowhere.json")
    done = run_cli(["check"], project)
    assert done.returncode == 2
    assert "cannot read" in done.stderr


# --------------------------------------------------------------------------- reports


def violation(
    path: str, line: int, code: str = "TG002", imported: str | None = "httpx"
) -> Violation:
    return Violation(path, line, 1, code, "app.x", imported, f"{code} message at {line}")


def reference_json(result: CheckResult) -> str:
    """The document as the json package writes it: the handwritten writer must agree."""

    def item(v: Violation) -> dict[str, object]:
        return {
            "code": v.code,
            "path": v.path,
            "line": v.line,
            "column": v.column,
            "importer": v.importer,
            "imported": None if v.code in ("TG003", "TG900") else v.imported,
            "message": v.message,
        }

    document: dict[str, object] = {
        "version": 1,
        "files_checked": result.files_checked,
        "violations": [item(v) for v in result.violations],
    }
    if result.baseline is not None:
        document["baseline"] = result.baseline
        document["baselined"] = [item(v) for v in result.baselined]
    return json.dumps(document, indent=2) + "\n"


PATHS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
VIOLATIONS = st.lists(
    st.builds(
        violation, PATHS, st.integers(1, 10_000), st.sampled_from(["TG001", "TG002", "TG003"])
    ),
    max_size=4,
)


@settings(max_examples=150)
@given(VIOLATIONS, VIOLATIONS, st.none() | PATHS, st.integers(0, 10**6))
def test_json_with_a_baseline_is_written_as_the_json_package_writes_it(
    failures: list[Violation], accepted: list[Violation], baseline: str | None, checked: int
) -> None:
    result = CheckResult(tuple(failures), checked, tuple(accepted) if baseline else (), baseline)
    assert to_json(result) == reference_json(result)


def test_text_summary_with_and_without_failures() -> None:
    accepted = (violation("a.py", 1), violation("a.py", 2))
    clean = CheckResult((), 7, accepted, "b.json")
    assert text(clean) == "No new violations: 7 files checked; 2 baselined (b.json).\n"
    dirty = CheckResult((violation("c.py", 3),), 7, accepted, "b.json")
    rendered = text(dirty)
    assert "a.py" not in rendered
    assert rendered.splitlines()[-1] == (
        "Found 1 violation in 1 file (TG002 1); 7 files checked; 2 baselined (b.json). "
        "'taskguard explain CODE' describes a rule."
    )
    # An empty baseline file is still a baseline in use.
    assert text(CheckResult((), 1, (), "b.json")) == (
        "No new violations: 1 file checked; 0 baselined (b.json).\n"
    )
    assert text(CheckResult((), 1)) == "No violations: 1 file checked.\n"


def test_every_format_leaves_baselined_violations_out_of_the_failures() -> None:
    accepted = (violation("accepted.py", 1),)
    result = CheckResult((violation("new.py", 2),), 3, accepted, "b.json")
    assert "accepted.py" not in github(result)
    assert "accepted.py" not in text(result)
    assert [v["path"] for v in json.loads(to_json(result))["violations"]] == ["new.py"]
    states = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r["baselineState"]
        for r in json.loads(sarif(result))["runs"][0]["results"]
    }
    assert states == {"new.py": "new", "accepted.py": "unchanged"}
    assert "baselineState" not in sarif(CheckResult(result.violations, 3))
    for fmt in ("text", "json", "github", "sarif"):
        assert render(result, fmt)


def test_check_result_fields_compare_and_pickle() -> None:
    import pickle

    a = CheckResult((violation("x.py", 1),), 2, (violation("y.py", 1),), "b.json")
    assert pickle.loads(pickle.dumps(a)) == a
    assert a != CheckResult(a.violations, 2)
    assert hash(a) == hash(CheckResult(a.violations, 2, a.baselined, "b.json"))
    assert "baselined=" in repr(a)
    assert "baselined=" not in repr(CheckResult((), 1))
