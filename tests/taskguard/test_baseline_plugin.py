"""The pytest plugin's ``taskguard-check`` item honours the baseline; its runtime guard does
not read it. Run by pytest itself through ``pytester`` (a subprocess each: the guard is
process-wide)."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
from _check_support import run_cli

PYPROJECT = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.api.routers"]
forbidden-in-protected = ["fakehttp"]

[tool.pytest.ini_options]
pythonpath = ["."]
addopts = ["--strict-markers", "--strict-config", "-p", "no:cacheprovider"]
filterwarnings = ["error"]
"""
ROUTERS = """\
def lazy():
    import fakehttp
    return fakehttp
"""
FILES = {
    "app/__init__.py": "",
    "app/api/__init__.py": "",
    "app/api/routers/__init__.py": ROUTERS,
    "fakehttp/__init__.py": "",
    "tests/test_ok.py": "def test_ok():\n    pass\n",
}


@pytest.fixture(autouse=True)
def _lean_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)


def make_project(pytester: pytest.Pytester, files: dict[str, str] | None = None) -> Path:
    (pytester.path / "pyproject.toml").write_text(PYPROJECT)
    for rel, text in {**FILES, **(files or {})}.items():
        write(pytester.path, rel, text)
    return pytester.path


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    past = time.time() - 60  # outside the check cache's racy window
    for each in root.rglob("*.py"):
        os.utime(each, (past, past))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    lean = ("-p", "no:hypothesispytest", "-p", "no:dispatch", "-p", "no:anyio")
    return pytester.runpytest_subprocess("-rA", *lean, *args, timeout=120)


def test_the_check_item_passes_on_baselined_violations_and_fails_on_new_ones(
    pytester: pytest.Pytester,
) -> None:
    root = make_project(pytester)
    run(pytester).assert_outcomes(passed=1, failed=1)
    assert run_cli(["check", "--write-baseline"], root).returncode == 0
    run(pytester).assert_outcomes(passed=2)

    write(root, "app/api/routers/__init__.py", ROUTERS + "\ndef other():\n    import fakehttp\n")
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ taskguard check _*",
            "app/api/routers/__init__.py:6:5: TG002 * imports forbidden fakehttp",
            "Found 1 violation in 1 file (TG002 1); * 1 baselined (taskguard-baseline.json).*",
            "FAILED taskguard-check - *",
        ]
    )
    result.stdout.no_fnmatch_line("*routers/__init__.py:2:5*")


def test_a_stale_entry_fails_the_check_item(pytester: pytest.Pytester) -> None:
    root = make_project(pytester)
    assert run_cli(["check", "--write-baseline"], root).returncode == 0
    write(root, "app/api/routers/__init__.py", "X = 1\n")
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["taskguard-baseline.json:4:1: TG005 baseline entry TG002 app.api.routers -> fakehttp*"]
    )


def test_a_bad_baseline_fails_the_check_item_without_a_traceback(
    pytester: pytest.Pytester,
) -> None:
    root = make_project(pytester)
    (root / "taskguard-baseline.json").write_text('{"version": 7, "entries": []}')
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "taskguard: error: invalid baseline taskguard-baseline.json:",
            "  version: version 7 is not supported*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*_baseline.py*")


def test_the_runtime_guard_does_not_read_the_baseline(pytester: pytest.Pytester) -> None:
    root = make_project(
        pytester,
        {
            "tests/test_lazy.py": """\
                import app.api.routers as routers

                def test_lazy():
                    routers.lazy()
            """
        },
    )
    assert run_cli(["check", "--write-baseline"], root).returncode == 0
    result = run(pytester)
    # The check item passes (the violation is baselined); the test that runs it still fails.
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *ForbiddenImportError: TG002: app.api.routers may not import fakehttp *",
            "PASSED taskguard-check",
            "FAILED tests/test_lazy.py::test_lazy - *ForbiddenImportError*",
        ]
    )
