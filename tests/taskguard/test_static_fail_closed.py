"""Fail closed: every file is parsed by default, so a file that cannot be read or parsed is
always TG900, whatever the options and whatever the cache holds. ``--fast`` is the one
documented exception: a file the byte prefilter proves unable to hold a relevant import is
not parsed, so its syntax error goes unreported.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _check_support import found, run_cli, write_project

from taskguard import check
from taskguard._static import FULL, run_check

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.api.routers"]
forbidden-in-protected = ["httpx", "requests"]
"""
INDIRECT = TABLE + "indirect = true\n"

# Files that mention nothing the policy cares about: the prefilter rules every one out.
IRRELEVANT_BROKEN: dict[str, str | bytes] = {
    "app/mod.py": "def broken(:\n    return 1\n",
    "app/nul.py": b"import os\x00\n",
    "app/late.py": "import json\n" + "x = 1\n" * 40 + "def f():\n    return [\n",
}
# Broken files every mode parses: a coding cookie, non-ASCII bytes, a relevant import.
ALWAYS_PARSED_BROKEN: dict[str, str | bytes] = {
    "app/cookie.py": b"# -*- coding: no-such-codec -*-\nx = 1\n",
    "app/latin.py": b"x = '\xe9t\xe9'\n",
    "app/api/routers/bad.py": "import httpx\ndef f(:\n",
}
FINE: dict[str, str | bytes] = {
    "app/domain/ok.py": "import json\n",
    # ast.parse accepts it (only compiling rejects a duplicate argument): not TG900.
    "app/domain/twice.py": "def twice(a, a):\n    return a\n",
    "app/api/routers/uses.py": "import requests\n",
}


def tg900(result: object) -> list[str]:
    return sorted(v.path for v in result.violations if v.code == "TG900")  # type: ignore[attr-defined]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, {**IRRELEVANT_BROKEN, **ALWAYS_PARSED_BROKEN, **FINE}, TABLE)
    os.symlink("missing_target.py", tmp_path / "app" / "dangling.py")
    return tmp_path


ALL_BROKEN = sorted([*IRRELEVANT_BROKEN, *ALWAYS_PARSED_BROKEN, "app/dangling.py"])
FAST_BROKEN = sorted([*ALWAYS_PARSED_BROKEN, "app/dangling.py"])


def test_every_unparsable_file_is_tg900_by_default(project: Path) -> None:
    result = check(use_cache=False)
    assert tg900(result) == ALL_BROKEN
    assert result == run_check(use_cache=False, mode=FULL)
    messages = {v.path: v.message for v in result.violations if v.code == "TG900"}
    assert messages["app/mod.py"] == "could not parse app/mod.py: invalid syntax"
    assert "null bytes" in messages["app/nul.py"]
    assert "could not read app/dangling.py" in messages["app/dangling.py"]
    assert "no-such-codec" in messages["app/cookie.py"]
    # The violations next to them are still found, and the fine files stay silent.
    assert ("app/api/routers/uses.py", 1, "TG002", "requests") in found(result)
    assert not [v for v in result.violations if v.path.startswith("app/domain/")]


def test_the_cache_keeps_failures_and_serves_each_mode_its_own_answer(project: Path) -> None:
    assert tg900(check(prefilter=True)) == FAST_BROKEN  # cold fast run: writes the cache
    assert tg900(check()) == ALL_BROKEN  # what --fast never parsed is parsed now
    assert tg900(check()) == ALL_BROKEN  # and cached as failed
    assert tg900(check(prefilter=True)) == FAST_BROKEN  # the fast mode on that cache
    assert tg900(check()) == ALL_BROKEN


def test_indirect_mode_reports_a_syntax_error_after_the_last_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    files: dict[str, str | bytes] = {
        "app/api/routers/entry.py": "from app.domain import helper\n",
        "app/domain/helper.py": "import requests\n\ndef broken(:\n    pass\n",
    }
    write_project(tmp_path, files, INDIRECT)
    default = check(use_cache=False)
    assert [(v.path, v.code) for v in default.violations] == [("app/domain/helper.py", "TG900")]
    # --fast parses that file only up to its last import: it sees the chain, not the error.
    fast = check(use_cache=False, prefilter=True)
    assert [(v.path, v.code, v.imported) for v in fast.violations] == [
        ("app/api/routers/entry.py", "TG004", "requests")
    ]
    assert check() == default
    assert check(prefilter=True) == fast


@pytest.mark.parametrize("flag", [[], ["--no-prefilter"]])
def test_cli_default_and_fast(project: Path, flag: list[str]) -> None:
    default = run_cli(["check", "--no-cache", "--select", "TG900", *flag], project)
    assert default.returncode == 1, default.stderr
    assert sum(line.count(": TG900 ") for line in default.stdout.splitlines()) == len(ALL_BROKEN)
    fast = run_cli(["check", "--no-cache", "--select", "TG900", "--fast"], project)
    assert fast.returncode == 1
    assert "app/mod.py" not in fast.stdout
    assert "app/cookie.py" in fast.stdout


def test_cli_fast_and_no_prefilter_exclude_each_other(project: Path) -> None:
    out = run_cli(["check", "--fast", "--no-prefilter"], project)
    assert out.returncode == 2
    assert "not allowed with argument" in out.stderr
    assert "--fast" in run_cli(["check", "--help"], project).stdout
