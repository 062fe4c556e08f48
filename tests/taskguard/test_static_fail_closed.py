"""Fail closed: a file that could hold a relevant import and cannot be read or parsed is
always TG900, whatever the options and whatever the cache holds. By default a file the byte
prefilter proves unable to hold a relevant import is not parsed, so its syntax error goes
unreported; ``--parse-all`` (``check(parse_all=True)``) parses every file, so that any syntax
error is TG900.
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
PREFILTERED_BROKEN = sorted([*ALWAYS_PARSED_BROKEN, "app/dangling.py"])


def test_every_unparsable_file_is_tg900_with_parse_all(project: Path) -> None:
    result = check(use_cache=False, parse_all=True)
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


def test_by_default_a_file_that_may_hold_a_relevant_import_and_does_not_parse_is_tg900(
    project: Path,
) -> None:
    result = check(use_cache=False)
    assert tg900(result) == PREFILTERED_BROKEN
    messages = {v.path: v.message for v in result.violations if v.code == "TG900"}
    assert "no-such-codec" in messages["app/cookie.py"]
    assert "could not read app/dangling.py" in messages["app/dangling.py"]
    # The violation in the broken protected file cannot be seen; its neighbours' are.
    assert ("app/api/routers/uses.py", 1, "TG002", "requests") in found(result)
    # Everything but the syntax errors of files the prefilter rules out: as parse-all finds.
    everything = check(use_cache=False, parse_all=True)
    assert [v for v in everything.violations if v.path not in IRRELEVANT_BROKEN] == list(
        result.violations
    )


def test_the_cache_keeps_failures_and_serves_each_mode_its_own_answer(project: Path) -> None:
    assert tg900(check()) == PREFILTERED_BROKEN  # cold default run: writes the cache
    assert tg900(check(parse_all=True)) == ALL_BROKEN  # what it never parsed is parsed now
    assert tg900(check(parse_all=True)) == ALL_BROKEN  # and cached as failed
    assert tg900(check()) == PREFILTERED_BROKEN  # the default mode on that cache
    assert tg900(check(parse_all=True)) == ALL_BROKEN


def test_indirect_mode_reports_a_syntax_error_after_the_last_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    files: dict[str, str | bytes] = {
        "app/api/routers/entry.py": "from app.domain import helper\n",
        "app/domain/helper.py": "import requests\n\ndef broken(:\n    pass\n",
    }
    write_project(tmp_path, files, INDIRECT)
    parse_all = check(use_cache=False, parse_all=True)
    assert [(v.path, v.code) for v in parse_all.violations] == [("app/domain/helper.py", "TG900")]
    # By default that file is parsed only up to its last import: the chain, not the error.
    default = check(use_cache=False)
    assert [(v.path, v.code, v.imported) for v in default.violations] == [
        ("app/api/routers/entry.py", "TG004", "requests")
    ]
    assert check(parse_all=True) == parse_all
    assert check() == default


def tg900_lines(stdout: str) -> int:
    return sum(line.count(": TG900 ") for line in stdout.splitlines())


@pytest.mark.parametrize(
    ("flag", "warning"),
    [
        (["--parse-all"], None),
        (["--no-prefilter"], "taskguard: warning: --no-prefilter is deprecated: use --parse-all"),
    ],
)
def test_cli_parse_all(project: Path, flag: list[str], warning: str | None) -> None:
    out = run_cli(["check", "--no-cache", "--select", "TG900", *flag], project)
    assert out.returncode == 1, out.stderr
    assert tg900_lines(out.stdout) == len(ALL_BROKEN)
    assert "app/mod.py" in out.stdout
    assert (warning in out.stderr) if warning else ("warning" not in out.stderr)


@pytest.mark.parametrize(
    ("flag", "warning"),
    [
        ([], None),
        (["--fast"], "taskguard: warning: --fast is deprecated: the byte prefilter is the default"),
    ],
)
def test_cli_default(project: Path, flag: list[str], warning: str | None) -> None:
    out = run_cli(["check", "--no-cache", "--select", "TG900", *flag], project)
    assert out.returncode == 1, out.stderr
    assert tg900_lines(out.stdout) == len(PREFILTERED_BROKEN)
    assert "app/mod.py" not in out.stdout
    assert "app/cookie.py" in out.stdout
    assert (warning in out.stderr) if warning else ("warning" not in out.stderr)


@pytest.mark.parametrize(
    "flags", [["--fast", "--parse-all"], ["--fast", "--no-prefilter"], ["--parse-all", "--fast"]]
)
def test_cli_parsing_options_exclude_each_other(project: Path, flags: list[str]) -> None:
    out = run_cli(["check", *flags], project)
    assert out.returncode == 2
    assert "not allowed with argument" in out.stderr


def test_cli_help_names_parse_all_only(project: Path) -> None:
    help_text = run_cli(["check", "--help"], project).stdout
    assert "--parse-all" in help_text
    assert "--fast" not in help_text
    assert "--no-prefilter" not in help_text


def test_the_deprecated_prefilter_argument_warns_and_maps_to_the_modes(project: Path) -> None:
    with pytest.warns(DeprecationWarning, match=r"check\(parse_all=True\)"):
        old_fast = check(use_cache=False, prefilter=True)
    with pytest.warns(DeprecationWarning, match="the prefilter is the default"):
        old_default = check(use_cache=False, prefilter=False)
    assert old_fast == check(use_cache=False)
    assert old_default == check(use_cache=False, parse_all=True)


def _deep_tree(top: Path, depth: int) -> str:
    """Directories nested below ``top`` past the longest path the system opens (made one
    level at a time, relative to the last): the walk cannot list the deepest of them."""
    segment = "pkg" + "x" * 240
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir(segment, dir_fd=fd)
            inner = os.open(segment, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)
    return "/".join([segment] * depth)


def test_a_directory_that_cannot_be_listed_is_tg900_not_a_silent_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any user, root included, gets ENAMETOOLONG listing a directory whose path is longer
    # than PATH_MAX: what it holds is unchecked, so the run must say so.
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, {"app/api/routers/ok.py": "import json\n"}, TABLE)
    deep = _deep_tree(tmp_path / "app" / "api" / "routers", 18)
    assert len(str(tmp_path / deep)) > 4096
    result = check(use_cache=False)
    (unlisted,) = [v for v in result.violations if v.code == "TG900"]
    assert unlisted.path.startswith("app/api/routers/pkgx")
    assert unlisted.message.startswith(f"could not list {unlisted.path}: ")
    assert "too long" in unlisted.message
    assert unlisted.importer is None
    assert unlisted.imported is None
    # The rest of the project is still checked, and the CLI exits 1 with the finding.
    assert result.files_checked >= 1
    out = run_cli(["check", "--no-cache"], tmp_path)
    assert out.returncode == 1
    assert "TG900 could not list app/api/routers/pkgx" in out.stdout


ALLOWED = (
    TABLE
    + """
[[tool.taskguard.allow]]
importer = "app.api.routers.bad"
imported = "httpx"
reason = "the legacy client, until the port"
"""
)


@pytest.mark.parametrize("table", [ALLOWED, ALLOWED.replace("[[", "indirect = true\n[[", 1)])
@pytest.mark.parametrize("parse_all", [False, True])
def test_an_allow_entry_of_a_file_that_cannot_be_judged_is_not_called_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, parse_all: bool
) -> None:
    # The file the entry excuses does not parse: whether it still imports httpx is unknown,
    # so "matched nothing; remove it" would be wrong advice. Once it parses without the
    # import, the entry is stale.
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, {"app/api/routers/bad.py": "import httpx\ndef f(:\n"}, table)
    result = check(use_cache=False, parse_all=parse_all)
    codes = [v.code for v in result.violations]
    assert "TG900" in codes or not parse_all
    assert "TG005" not in codes
    write_project(tmp_path, {"app/api/routers/bad.py": "import json\n"}, table)
    result = check(use_cache=False, parse_all=parse_all)
    assert [v.code for v in result.violations] == ["TG005"]
