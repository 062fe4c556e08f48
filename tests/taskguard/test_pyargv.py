"""``taskguard._pyargv``: Python's command-line parsing, compared with every CPython
3.10-3.13 present (each command line run for real), plus the options it reports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from taskguard._pyargv import PythonCommandLine, parse_python_argv
from tests.taskguard.test_hook_cases import INTERPRETERS, VERSIONS

REPORT = "import sys; print('RAN', ({kind!r}, sys.argv, sys.flags.isolated, sys.flags.no_site))"
CODE = REPORT.format(kind="command")

# Command lines (without the interpreter): each is run by every interpreter present.
CASES: list[list[str]] = [
    ["-m", "modx", "-I"],
    ["-mmodx", "a"],
    ["-B", "-X", "importtime", "-W", "error", "-m", "modx", "--flag"],
    ["-Ximporttime", "-Werror", "-Bm", "modx"],
    ["--check-hash-based-pycs", "always", "-m", "modx"],
    ["--check-hash-based-pycs", "always", "-I", "script.py", "b"],
    ["--check-hash-based-pycs", "never", "--", "script.py", "-c"],
    ["--check-hash-based-pycs", "bogus", "-m", "modx"],
    ["--check-hash-based-pycs"],
    ["--check-hash-based-pycs=always", "-m", "modx"],
    ["--check-hash", "always", "-m", "modx"],
    ["script.py", "-m", "modx"],
    ["-c", CODE, "-m", "modx"],
    ["-Bc", CODE, "-I"],
    ["-ISc", CODE],
    ["-E", "-s", "-S", "script.py"],
    ["-", "x", "-m"],
    ["-I", "-"],
    [],
    ["-q", "-u", "-O", "-OO", "-b", "-R", "script.py"],
    ["-m"],
    ["-c"],
    ["-Bm"],
    ["-X"],
    ["-W"],
    ["-J"],
    ["-Z", "-m", "modx"],
    ["-P", "-c", CODE],
    ["-IP", "script.py"],
    ["--foo", "-m", "modx"],
    ["--", "script.py", "-m", "modx"],
    ["-W", "error", "--", "script.py"],
    ["-X", "dev", "-X", "utf8", "-c", CODE],
    ["-Xutf8", "-SBWignore", "-m", "modx"],
    ["--help"],
    ["-h", "-Z"],
    ["-?"],
    ["--version"],
    ["-V", "-c", CODE],
    ["-c", CODE, "-V"],
    ["-Z", "-V"],
    ["-V", "-Z"],
    ["--version", "-m", "modx"],
    ["--help-env"],
    ["--help-all", "-m", "modx"],
    ["--help-xoptions"],
    ["-X", "importtime", "-c", CODE],
    ["-W", "error", "-m", "modx"],
    ["--check-hash-based-pycs", "never", "-I", "-c", CODE],
    ["-"],
    ["-i"],
    ["-bbE", "-c", CODE],
    ["-bbEm", "modx", "-c"],
    ["-VV"],
    ["-Vc", CODE],
    ["-m", "modx", "--", "x"],
    ["-Wd", "-Xdev", "-", "q"],
    ["-X", "-c", "script.py"],
    ["-W", "-m", "script.py", "-m"],
    ["-E", "--", "-"],
    ["-E", "--", "script.py", "--"],
    ["-I", "--version", "-c", CODE],
]


def _observed(python: str, args: list[str], cwd: Path) -> tuple[str, str | None, list[str]]:
    proc = subprocess.run(
        [python, *args],
        cwd=cwd,
        input=REPORT.format(kind="stdin"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
    )
    ran = [line for line in proc.stdout.splitlines() if line.startswith("RAN ")]
    if not ran:
        assert proc.returncode in (0, 2), (args, proc.returncode, proc.stderr)
        return ("help" if proc.returncode == 0 else "error"), None, []
    assert len(ran) == 1, (args, proc.stdout)
    kind, argv, isolated, no_site = ast.literal_eval(ran[0][4:])
    return kind, f"{isolated}/{no_site}", argv


def _expected(parsed: PythonCommandLine) -> tuple[str, str | None, list[str]]:
    if parsed.run in ("help", "error"):
        return parsed.run, None, []
    isolated = int(parsed.has("I"))
    no_site = int(parsed.has("S"))
    # argv[0] is not compared (a path for -m, "-" or "" for stdin)
    return parsed.run, f"{isolated}/{no_site}", ["", *parsed.args]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pyargv")
    (directory / "modx.py").write_text(REPORT.format(kind="module") + "\n")
    (directory / "script.py").write_text(REPORT.format(kind="script") + "\n")
    return directory


@pytest.mark.parametrize("version", VERSIONS)
def test_matches_cpython(version: str, workdir: Path) -> None:
    python = INTERPRETERS[version]
    if python is None:
        pytest.skip(f"CPython {version} is not installed")
    major, minor = (int(part) for part in version.split("."))
    mismatches = []
    for args in CASES:
        parsed = parse_python_argv([python, *args], (major, minor))
        kind, flags, argv = _observed(python, args, workdir)
        expected_kind, expected_flags, expected_argv = _expected(parsed)
        if (kind, flags) != (expected_kind, expected_flags) or (
            kind not in ("help", "error") and argv[1:] != expected_argv[1:]
        ):
            mismatches.append((args, (kind, flags, argv), parsed))
        if kind in ("module", "script"):
            assert parsed.target == {"module": "modx", "script": "script.py"}[kind], args
    assert not mismatches, "\n".join(map(repr, mismatches))


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["python", "-m", "app.worker"], "app.worker"),
        (["python", "-mapp.worker"], "app.worker"),
        (["python", "-B", "-X", "importtime", "-W", "error", "-m", "app.x", "--flag"], "app.x"),
        (["python", "-Ximporttime", "-Werror", "-Bm", "app.y"], "app.y"),
        (["python", "--check-hash-based-pycs", "always", "-m", "app.z"], "app.z"),
        (["python", "script.py", "-m", "app.x"], None),
        (["python", "-c", "pass", "-m", "app.x"], None),
        (["python", "-Bc", "pass"], None),
        (["python", "-"], None),
        (["python"], None),
        (["python", "-m"], None),
        (["python", "-V", "-m", "app.x"], None),  # prints the version, runs nothing
    ],
)
def test_module(argv: list[str], module: str | None) -> None:
    assert parse_python_argv(argv).module == module


def test_options_and_values() -> None:
    parsed = parse_python_argv(
        ["python", "--check-hash-based-pycs", "always", "-IX", "dev", "-Werror", "s.py", "-E"]
    )
    assert parsed.options == (
        ("check-hash-based-pycs", "always"),
        ("I", None),
        ("X", "dev"),
        ("W", "error"),
    )
    assert (parsed.run, parsed.target, parsed.args) == ("script", "s.py", ("-E",))
    assert parsed.has("I")
    assert not parsed.has("E")


def test_version_dependent_options() -> None:
    assert parse_python_argv(["python", "-P", "s.py"], (3, 10)).run == "error"
    assert parse_python_argv(["python", "-P", "s.py"], (3, 11)).run == "script"
    assert parse_python_argv(["python", "--help-env"], (3, 10)).run == "error"
    assert parse_python_argv(["python", "--help-env"], (3, 13)).run == "help"
    assert parse_python_argv(["python"]).run == parse_python_argv(["python", "-"]).run == "stdin"
    error = parse_python_argv(["python", "-Q"]).error
    assert error == "Unknown option: -Q"


def test_this_interpreter_agrees_with_itself() -> None:
    # sys.orig_argv of this very process (pytest, or a pytest-xdist worker started with
    # -c) parses to the program that runs, with the arguments it got.
    parsed = parse_python_argv(sys.orig_argv)
    assert parsed.run in ("module", "script", "command"), parsed
    assert list(parsed.args) == sys.argv[1:]
