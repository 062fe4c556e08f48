"""The ``taskguard`` console script, run as an installed program on temporary projects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from _check_support import SCRIPT, run_cli, write_project

REPO = Path(__file__).resolve().parents[2]
TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.api.routers"]
forbidden-in-protected = ["httpx", "requests"]
"""
FILES: dict[str, str | bytes] = {
    "app/api/routers/episodes.py": "import httpx\nfrom google.cloud import tasks_v2\n",
    "app/domain/models.py": "import json\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj", FILES, TABLE)


def test_console_script_is_installed() -> None:
    assert Path(SCRIPT).is_file()


def test_check_exit_codes_and_text(project: Path) -> None:
    dirty = run_cli(["check"], project)
    assert dirty.returncode == 1, dirty.stderr
    lines = dirty.stdout.splitlines()
    assert lines[0].startswith("app/api/routers/episodes.py:1:1: TG002 ")
    assert lines[1].startswith("app/api/routers/episodes.py:2:1: TG001 ")
    assert lines[-2] == "hint: use dispatch.enqueue_http_task() to dispatch background work"
    assert lines[-1].startswith("Found 2 violations in 1 file (TG001 1, TG002 1); 6 files checked")
    assert "\033[" not in dirty.stdout  # not a TTY
    assert dirty.stderr == ""
    clean = run_cli(["check", "app/domain"], project)
    assert (clean.returncode, clean.stdout) == (0, "No violations: 2 files checked.\n")


def test_check_json_from_another_directory(project: Path) -> None:
    out = run_cli(["check", "proj", "--format", "json", "--no-cache"], project.parent)
    assert out.returncode == 1
    document = json.loads(out.stdout)
    assert document["files_checked"] == 6
    assert [(v["path"], v["code"], v["imported"]) for v in document["violations"]] == [
        ("proj/app/api/routers/episodes.py", "TG002", "httpx"),
        ("proj/app/api/routers/episodes.py", "TG001", "google.cloud.tasks_v2"),
    ]
    assert not (project / ".taskguard_cache").exists()


def test_check_select_github_and_sarif(project: Path) -> None:
    selected = run_cli(["check", "--select", "TG001", "--format", "github"], project)
    assert selected.returncode == 1
    assert selected.stdout.startswith(
        "::error file=app/api/routers/episodes.py,line=2,col=1,title=taskguard TG001::"
    )
    none = run_cli(["check", "--select", "TG003,TG004"], project)
    assert none.returncode == 0
    log = json.loads(run_cli(["check", "--format", "sarif"], project).stdout)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["TG002", "TG001"]


def test_colour_only_on_a_tty_and_never_with_no_color(project: Path) -> None:
    code = (
        "import os, pty, sys\n"
        "pid, fd = pty.fork()\n"
        "if pid == 0:\n"
        "    os.execv(sys.argv[1], [sys.argv[1], 'check'])\n"
        "out = b''\n"
        "while True:\n"
        "    try:\n"
        "        chunk = os.read(fd, 4096)\n"
        "    except OSError:\n"
        "        break\n"
        "    if not chunk:\n"
        "        break\n"
        "    out += chunk\n"
        "os.waitpid(pid, 0)\n"
        "sys.stdout.write(repr(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}

    def on_tty(**extra: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code, SCRIPT],
            cwd=project,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    assert "\\x1b[31m" in on_tty()
    assert "\\x1b[" not in on_tty(NO_COLOR="1")
    assert "TG002" in on_tty(NO_COLOR="1")


def test_configuration_errors_exit_2_with_every_problem(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.taskguard]\nroot-package = ["app"]\nmode = "loud"\n'
        '[[tool.taskguard.allow]]\nimporter = "app"\nimported = "httpx"\n',
        encoding="utf-8",
    )
    out = run_cli(["check"], project)
    assert out.returncode == 2
    assert out.stdout == ""
    assert "Traceback" not in out.stderr
    for expected in (
        "root-package: unknown key; did you mean 'root-packages'?",
        "mode: expected 'error' or 'warn', got 'loud'",
        "allow[0].reason: missing",
    ):
        assert expected in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "missing/"], "no such file or directory"),
        (["check", "--select", "TG77"], "unknown rule code(s) TG77"),
        (["check", "--select", ""], "--select: no rule code given"),
        (["check", "--select", " , "], "--select: no rule code given"),
        (["check", "--format", "xml"], "invalid choice: 'xml'"),
        (["check", "--config", "nope.toml"], "no such file: nope.toml"),
        (["check", "--jobs", "0"], "--jobs must be at least 1"),
        (["explain", "TG999"], "unknown rule 'TG999'"),
        (["run"], "run needs a command"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "usage:"),
    ],
)
def test_usage_errors_exit_2(project: Path, args: list[str], message: str) -> None:
    out = run_cli(args, project)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_parallel_workers_and_module_entry_point_agree(project: Path) -> None:
    for i in range(40):
        (project / "app" / "domain" / f"m{i}.py").write_text(
            "import json\n" if i % 3 else "from google.cloud import tasks_v2\n", encoding="utf-8"
        )
    serial = run_cli(["check", "--no-cache", "--format", "json", "--jobs", "1"], project)
    parallel = run_cli(["check", "--no-cache", "--format", "json", "--jobs", "2"], project)
    module = run_cli(["check", "--no-cache", "--format", "json"], project, module=True)
    assert serial.returncode == parallel.returncode == module.returncode == 1
    assert serial.stdout == parallel.stdout == module.stdout
    assert len(json.loads(serial.stdout)["violations"]) == 16


def test_explain_prints_the_rule_page(project: Path) -> None:
    out = run_cli(["explain", "tg002"], project)
    assert out.returncode == 0
    assert out.stdout == (REPO / "docs" / "rules" / "TG002.md").read_text(encoding="utf-8")
    listing = run_cli(["explain"], project)
    assert listing.returncode == 0
    assert [line.split()[0] for line in listing.stdout.splitlines()] == [
        "TG001",
        "TG002",
        "TG003",
        "TG004",
        "TG005",
        "TG900",
    ]


def test_explain_reads_the_pages_from_a_built_wheel(tmp_path: Path) -> None:
    # Package data, not the repository's docs/: build the wheel, unpack it, and run the
    # unpacked copy with site-packages (and so the editable install) switched off.
    built = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q"),
            *(str(REPO), "-w", str(tmp_path / "dist")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("cloud_tasks_guard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "unpacked")
    out = subprocess.run(
        [sys.executable, "-S", "-m", "taskguard", "explain", "TG900"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "unpacked"), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == (REPO / "docs" / "rules" / "TG900.md").read_text(encoding="utf-8")


def test_init_writes_a_commented_table_once(tmp_path: Path) -> None:
    project = tmp_path / "svc"
    (project / "svc_app" / "api").mkdir(parents=True)
    (project / "svc_app" / "__init__.py").write_text("", encoding="utf-8")
    (project / "pyproject.toml").write_text('[project]\nname = "svc"\n', encoding="utf-8")
    first = run_cli(["init"], project)
    assert first.returncode == 0, first.stderr
    assert "root packages: svc_app" in first.stdout
    content = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert content.startswith('[project]\nname = "svc"\n\n[tool.taskguard]\n# ')
    assert 'root-packages = ["svc_app"]' in content
    assert "# [[tool.taskguard.allow]]" in content
    second = run_cli(["init"], project)
    assert second.returncode == 2
    assert "already present" in second.stderr
    assert (project / "pyproject.toml").read_text(encoding="utf-8") == content
    # The written table is a working policy.
    checked = run_cli(["check"], project)
    assert (checked.returncode, checked.stdout) == (0, "No violations: 1 file checked.\n")


def test_init_creates_pyproject_and_refuses_broken_toml(tmp_path: Path) -> None:
    created = run_cli(["init", "--path", str(tmp_path)], tmp_path)
    assert created.returncode == 0, created.stderr
    assert (
        (tmp_path / "pyproject.toml").read_text(encoding="utf-8").startswith("[tool.taskguard]\n")
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pyproject.toml").write_text("[project\n", encoding="utf-8")
    out = run_cli(["init"], broken)
    assert out.returncode == 2
    assert "invalid TOML" in out.stderr
    assert (broken / "pyproject.toml").read_text(encoding="utf-8") == "[project\n"


def test_run_passes_the_command_through(project: Path) -> None:
    pytest.importorskip("taskguard._run", reason="taskguard run is written alongside the guard")
    out = run_cli(
        ["run", "--", sys.executable, "-c", "import sys; sys.exit(7)"],
        project,
    )
    assert out.returncode == 7, out.stderr


PROBE = """\
import sys
from taskguard._cli import main

code = main(["check", "--format", "json"])
loaded = sorted(sys.modules)
print(code, " ".join(loaded))
"""


def test_check_imports_neither_the_runtime_guard_nor_heavy_modules(project: Path) -> None:
    # What the console script loads for a check, cold and cached: startup time is most of a
    # cached run on a large project.
    pyproject = project / "pyproject.toml"
    # A file that cannot be parsed: its TG900 is cached too, the cached run parses nothing.
    broken = project / "app" / "api" / "routers" / "broken.py"
    broken.write_text("import httpx\ndef f(:\n", encoding="utf-8")
    # Outside the racy window, so that the cached run may read the table and the records.
    for path in (pyproject, broken):
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns - 10**10))
    for run in ("cold", "cached"):
        out = subprocess.run(
            [sys.executable, "-c", PROBE],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        code, modules = out.stdout.splitlines()[-1].split(" ", 1)
        loaded = set(modules.split())
        assert code == "1"
        assert "taskguard._static" in loaded
        heavy = {
            "taskguard._hook",
            "taskguard._run",
            "taskguard.pytest_plugin",
            "multiprocessing",  # workers only pay on hundreds of files
            "hashlib",  # loads OpenSSL; the cache fingerprint uses _blake2
            "subprocess",
            "importlib.metadata",
            "structlog",
        }
        assert not heavy & loaded
        if run == "cached":
            # Each of these costs milliseconds at every start; a cached run needs none.
            # (dataclasses, with inspect and contextlib, is paid on purpose: the policy is a
            # frozen dataclass that users copy with dataclasses.replace(); so are typing, for
            # the checker's records, which are typing.NamedTuples, and argparse, 1 ms, but
            # not the shutil it loads to ask for the terminal width.)
            assert not {"json", "tomllib", "shutil", "bz2", "lzma"} & loaded
            # Nothing of the analysis: a cached run reads records, it parses nothing.
            analysis = {"analyze", "bytescan", "names", "parallel", "prefilter", "screen"}
            analysis |= {"source", "suppress"}
            assert not {f"taskguard._static.{name}" for name in analysis} & loaded


REPLAY_PROBE = """\
import sys
before = set(sys.modules)
sys.argv = ["taskguard", "check", "--format", "json"]
from taskguard.__main__ import main
code = main()
print(code, " ".join(sorted(set(sys.modules) - before)), file=sys.stderr)
"""


def test_a_replayed_check_imports_almost_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What the console script loads when the verdict memo answers: the whole cost of a
    # cached run on a large project, besides the interpreter and one stat per file.
    from taskguard import _cli, _memo

    monkeypatch.chdir(project)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(_memo, "RACY_NS", 0)  # as if the files were older than the window
    for _ in range(2):
        assert _cli.main(["check", "--format", "json"]) == 1
    report = capsys.readouterr().out
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    out = subprocess.run(
        [sys.executable, "-c", REPLAY_PROBE],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    code, loaded = out.stderr.splitlines()[-1].split(" ", 1)
    # The report of the two runs above, replayed.
    assert code == "1"
    assert '"files_checked": 6' in out.stdout
    assert report == out.stdout * 2
    assert set(loaded.split()) == {
        "__future__",  # the annotations of the modules below
        "taskguard",
        "taskguard.__main__",
        "taskguard._cache",
        "taskguard._listing",
        "taskguard._memo",
        "taskguard._version",
    }


def test_importing_the_package_loads_none_of_it() -> None:
    code = """\
import sys
before = set(sys.modules)
import taskguard
print(" ".join(sorted(set(sys.modules) - before)))
from taskguard import *
assert all(getattr(taskguard, name) is globals()[name] for name in taskguard.__all__)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["taskguard"]  # not even the version (lazy, like the rest)


def test_guard_names_are_loaded_on_first_use() -> None:
    code = """\
import sys, taskguard
assert "taskguard._hook" not in sys.modules
names = dir(taskguard)
assert all(name in names for name in taskguard.__all__), names
from taskguard import install
from taskguard._hook import Guard, UnguardedModuleWarning, install as real, uninstall
assert install is real and taskguard.Guard is Guard and taskguard.uninstall is uninstall
assert taskguard.UnguardedModuleWarning is UnguardedModuleWarning
try:
    taskguard.no_such_name
except AttributeError as exc:
    assert "no_such_name" in str(exc)
else:
    raise AssertionError("no AttributeError")
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "ok\n", "")


def test_a_bad_selection_is_a_taskguard_error(project: Path) -> None:
    import pickle

    from taskguard import RuleSelectionError, TaskguardError, check

    with pytest.raises(RuleSelectionError) as caught:
        check([str(project)], select="TG002, tg77,XX1")
    error = caught.value
    assert isinstance(error, TaskguardError)
    assert isinstance(error, ValueError)  # what callers of check() caught before
    assert error.codes == ("TG77", "XX1")
    assert "TG002" in error.known
    assert str(error).startswith("unknown rule code(s) TG77, XX1; known: TG001, ")
    with pytest.raises(RuleSelectionError, match="no rule code given") as empty:
        check([str(project)], select=[])
    assert empty.value.codes == ()
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.codes, copy.known, str(copy)) == (
        RuleSelectionError,
        error.codes,
        error.known,
        str(error),
    )


@pytest.mark.parametrize("columns", [44, 200])
def test_help_follows_the_terminal_width(project: Path, columns: int) -> None:
    out = subprocess.run(
        [str(SCRIPT), "check", "--help"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": str(columns)},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    usage = [line for line in lines if line.startswith("usage:")]
    assert len(usage) == 1
    # Wide enough for the whole usage line, or wrapped onto the next lines.
    next_line = lines[lines.index(usage[0]) + 1]
    assert (next_line == "") == (columns == 200)


@pytest.mark.parametrize("columns", ["44", "200", "", "abc", "-3", None])
def test_the_help_width_is_the_one_shutil_gives(
    monkeypatch: pytest.MonkeyPatch, columns: str | None
) -> None:
    import shutil

    from taskguard._cli import _columns

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert _columns() == shutil.get_terminal_size().columns
