"""Acceptance of issue #12 as a user (or someone trying to slip past the checker) probes it:
inputs found by the audit that the other suites did not cover."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _check_support import found, run_cli, write_project

from taskguard import check

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.worker.tasks"]
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_a_fifo_named_like_a_module_is_tg900_and_never_hangs(tmp_path: Path, fmt: str) -> None:
    # Opening a named pipe for reading blocks until a writer comes: nobody ever does.
    write_project(tmp_path, {"app/worker/tasks/m.py": "import httpx\n"}, TABLE)
    os.mkfifo(tmp_path / "app" / "worker" / "tasks" / "pipe.py")
    for args in ([], ["--parse-all"]):
        result = run_cli(["check", "--no-cache", "--format", fmt, *args], tmp_path)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert "pipe.py" in result.stdout
        if fmt == "json":
            violations = json.loads(result.stdout)["violations"]
            assert [(v["path"], v["code"]) for v in violations] == [
                ("app/worker/tasks/m.py", "TG002"),
                ("app/worker/tasks/pipe.py", "TG900"),
            ]
            assert "not a regular file" in violations[1]["message"]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_named_like_a_module_is_tg900_not_an_endless_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(tmp_path, {"app/worker/tasks/m.py": "x = 1\n"}, TABLE)
    os.symlink("/dev/zero", tmp_path / "app" / "worker" / "tasks" / "zero.py")
    monkeypatch.chdir(tmp_path)
    result = check(["app"], use_cache=False)
    assert found(result) == [("app/worker/tasks/zero.py", 1, "TG900", None)]


MODULE_LEVEL_BUILTIN = {
    "called before the binding": "exec('x')\ndef mine(x): pass\nexec = mine\n",
    "bound in a dead branch": "while False:\n    exec = print\nexec('x')\n",
    "bound by a try but not its handler": "try:\n    from regex import compile as exec\n"
    "except ImportError:\n    pass\nexec('x')\n",
    "bound in a with block": "import contextlib\nwith contextlib.suppress(Exception):\n"
    "    exec = print\nexec('x')\n",
    "called in the statement that binds it": "try:\n    def f():\n        return exec('x')\n"
    "    f()\n    exec = print\nexcept Exception:\n    exec = print\n",
    "a decorator calls the def that binds it": "def run(f):\n    f()\n    return f\n"
    "@run\ndef exec():\n    return exec('x')\n",
    "bound in one branch only": "import sys\nif sys.argv[1:]:\n    exec = print\nexec('x')\n",
    "bound in a try that may fail": (
        "try:\n    from fast import exec\nexcept ImportError:\n    pass\nexec('x')\n"
    ),
    "bound then deleted": "exec = print\ndel exec\nexec('x')\n",
    "annotated, never bound": "exec: object\nexec('x')\n",
    "bound only by a function not yet called": "def setup():\n    global exec\n"
    "    exec = print\nexec('x')\n",
    "an empty loop's target": "for exec in []:\n    pass\nexec('x')\n",
    "__import__ rebound after the call": "n = 'os'\n__import__(n)\n__import__ = None\n",
    "a function called before the binding": "def f():\n    return exec('x')\nf()\nexec = print\n",
}


@pytest.mark.parametrize("source", MODULE_LEVEL_BUILTIN.values(), ids=list(MODULE_LEVEL_BUILTIN))
def test_a_module_global_hides_the_builtin_only_once_surely_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    # At module level a name not (yet) bound in the module's globals is the builtin: only a
    # binding that has surely run by the time of the call hides it.
    write_project(tmp_path, {"app/worker/tasks/m.py": source}, TABLE)
    monkeypatch.chdir(tmp_path)
    result = check(["app"], use_cache=False)
    assert [v.code for v in result.violations] == ["TG003"], result.violations


MODULE_LEVEL_SHADOW = {
    "bound by both branches of an if": "import sys\nif sys.argv:\n    from re import compile\n"
    "else:\n    compile = str\ncompile('x')\n",
    "bound by a try and its handler": "try:\n    from regex import compile\n"
    "except ImportError:\n    from re import compile\ncompile('x')\n",
    "bound by a try whose handler raises": "try:\n    from regex import compile\n"
    "except ImportError:\n    raise SystemExit('need regex')\ncompile('x')\n",
    "a def reading its own name": "def compile(x):\n    return compile(x)\n",
    "bound in finally": "try:\n    pass\nfinally:\n    compile = str\ncompile('x')\n",
    "imported above": "from re import compile\ncompile('x')\n",
    "defined above": "def exec(x):\n    return x\nexec('x')\n",
    "assigned above, used in a function": "def mine(x): pass\nexec = mine\n"
    "def f():\n    return exec('x')\n",
}


@pytest.mark.parametrize("source", MODULE_LEVEL_SHADOW.values(), ids=list(MODULE_LEVEL_SHADOW))
def test_a_module_global_bound_first_is_not_the_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    write_project(tmp_path, {"app/worker/tasks/m.py": source}, TABLE)
    monkeypatch.chdir(tmp_path)
    result = check(["app"], use_cache=False)
    assert not result.violations, result.violations
    assert result.files_checked == 4


def test_a_star_import_member_rebound_after_its_use_is_still_that_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = TABLE + 'forbidden-in-protected = ["concurrent.futures.ProcessPoolExecutor"]\n'
    source = "from concurrent.futures import *\nProcessPoolExecutor()\nProcessPoolExecutor = None\n"
    write_project(tmp_path, {"app/worker/tasks/m.py": source}, table)
    monkeypatch.chdir(tmp_path)
    result = check(["app"], use_cache=False)
    assert [(v.line, v.code, v.imported) for v in result.violations] == [
        (2, "TG002", "concurrent.futures.ProcessPoolExecutor")
    ]


@pytest.mark.parametrize("parse_all", [False, True])
def test_an_unknown_coding_cookie_is_tg900_at_line_1_column_1(
    tmp_path: Path, parse_all: bool
) -> None:
    # The parser says line 0, offset -1: a SARIF startColumn below 1 is an invalid log.
    write_project(tmp_path, {"app/worker/tasks/m.py": b"# coding: nonexistent\nx = 1\n"}, TABLE)
    args = ["check", "--no-cache", "--format", "sarif", *(["--parse-all"] if parse_all else [])]
    result = run_cli(args, tmp_path)
    assert result.returncode == 1, result.stderr
    [found_result] = json.loads(result.stdout)["runs"][0]["results"]
    region = found_result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (1, 1)
    assert "unknown encoding" in found_result["message"]["text"]


@pytest.mark.parametrize(
    "comment",
    [
        "# TASKGUARD: ignore[TG002] -- health probe",
        "# TaskGuard: ignore[TG002] -- health probe",
        "# noqa: F401  # Taskguard: ignore[TG002] -- health probe",
    ],
)
def test_a_directive_not_in_lower_case_is_tg005_not_silence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, comment: str
) -> None:
    write_project(tmp_path, {"app/worker/tasks/m.py": f"import httpx  {comment}\n"}, TABLE)
    monkeypatch.chdir(tmp_path)
    for parse_all in (False, True):
        result = check(["app"], use_cache=False, parse_all=parse_all)
        assert [(v.line, v.code) for v in result.violations] == [(1, "TG002"), (1, "TG005")]
        assert "in lower case" in result.violations[1].message


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_a_path_to_a_file_that_is_not_python_says_so(tmp_path: Path, fmt: str) -> None:
    write_project(tmp_path, {"app/worker/tasks/m.py": "x = 1\n", "notes.txt": "hello\n"}, TABLE)
    result = run_cli(["check", "--no-cache", "--format", fmt, "notes.txt"], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "no files checked: no Python files under notes.txt" in result.stderr
    assert "root package" not in result.stderr


TG004_TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.worker.tasks"]
forbidden-in-protected = ["concurrent.futures.ProcessPoolExecutor"]
indirect = true
"""


@pytest.mark.parametrize(
    "helper",
    [
        "from concurrent.futures import *\nProcessPoolExecutor()\n",
        "import concurrent.futures\nconcurrent.futures.ProcessPoolExecutor()\n",
        "from concurrent import futures\nfutures.ProcessPoolExecutor()\n",
        "import concurrent.futures as cf\nrun = getattr(cf, 'ProcessPoolExecutor')\n",
        # The defining module of the member, reached the same ways.
        "from concurrent.futures.process import *\nProcessPoolExecutor()\n",
        "import concurrent.futures.process\nconcurrent.futures.process.ProcessPoolExecutor()\n",
    ],
)
def test_tg004_follows_a_member_entry_used_through_a_star_import_or_a_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helper: str
) -> None:
    files = {"app/worker/tasks/m.py": "import app.helper\n", "app/helper.py": helper}
    write_project(tmp_path, files, TG004_TABLE)
    monkeypatch.chdir(tmp_path)
    for parse_all in (False, True):
        result = check(["app"], use_cache=False, parse_all=parse_all)
        assert [(v.path, v.code) for v in result.violations] == [("app/worker/tasks/m.py", "TG004")]


@pytest.mark.parametrize(
    "helper",
    [
        "from concurrent.futures import *\nThreadPoolExecutor()\n",
        "import concurrent.futures\nconcurrent.futures.ThreadPoolExecutor()\n",
        "from concurrent.futures import *\ndef f(ProcessPoolExecutor):\n"
        "    ProcessPoolExecutor()\n",
    ],
)
def test_tg004_has_no_edge_for_another_member_or_a_local_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helper: str
) -> None:
    files = {"app/worker/tasks/m.py": "import app.helper\n", "app/helper.py": helper}
    write_project(tmp_path, files, TG004_TABLE)
    monkeypatch.chdir(tmp_path)
    for parse_all in (False, True):
        result = check(["app"], use_cache=False, parse_all=parse_all)
        assert result.violations == ()


def test_tg004_through_a_chain_names_the_member_and_survives_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "app/worker/tasks/m.py": "from app import helper\n",
        "app/helper.py": "import json\nimport concurrent.futures\nx = 1\n"
        "pool = concurrent.futures.ProcessPoolExecutor()\n",
    }
    write_project(tmp_path, files, TG004_TABLE)
    monkeypatch.chdir(tmp_path)
    first = check(["app"])
    assert first == check(["app"])  # the cached run
    assert [(v.path, v.code) for v in first.violations] == [("app/worker/tasks/m.py", "TG004")]
    assert first.violations[0].message.endswith(
        "app.worker.tasks.m -> app.helper -> concurrent.futures.ProcessPoolExecutor"
    )


@pytest.mark.parametrize("parse_all", [False, True])
def test_a_capitalised_directive_in_a_file_with_nothing_else_is_still_tg005(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parse_all: bool
) -> None:
    # The prefilter must not rule the file out: the full analysis reports the comment.
    write_project(tmp_path, {"app/util.py": "x = 1  # TaskGuard: ignore[TG002] -- r\n"}, TABLE)
    monkeypatch.chdir(tmp_path)
    result = check(["app"], use_cache=False, parse_all=parse_all)
    assert [(v.path, v.code) for v in result.violations] == [("app/util.py", "TG005")]


def test_check_help_says_that_checking_no_file_is_exit_2(tmp_path: Path) -> None:
    result = run_cli(["check", "--help"], tmp_path)
    assert result.returncode == 0
    assert "no file was checked" in " ".join(result.stdout.split())


def test_a_symlink_loop_named_like_a_module_is_tg900_like_a_dangling_symlink(
    tmp_path: Path,
) -> None:
    write_project(tmp_path, {"app/worker/tasks/m.py": "x = 1\n"}, TABLE)
    tasks = tmp_path / "app" / "worker" / "tasks"
    os.symlink("loop2.py", tasks / "loop1.py")
    os.symlink("loop1.py", tasks / "loop2.py")
    for args in (["--no-cache"], ["--no-cache", "--parse-all"], [], []):  # cold, then cached
        result = run_cli(["check", "--format", "json", *args], tmp_path)
        assert result.returncode == 1, result.stderr
        violations = json.loads(result.stdout)["violations"]
        assert [(v["path"], v["code"]) for v in violations] == [
            ("app/worker/tasks/loop1.py", "TG900"),
            ("app/worker/tasks/loop2.py", "TG900"),
        ]
    # Named on the command line, it is a missing file: a usage error, not an internal one.
    result = run_cli(["check", "--no-cache", "app/worker/tasks/loop1.py"], tmp_path)
    assert result.returncode == 2
    assert "no such file or directory" in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_named_on_the_command_line_is_tg900_not_skipped(tmp_path: Path) -> None:
    write_project(tmp_path, {"app/worker/tasks/m.py": "x = 1\n"}, TABLE)
    os.mkfifo(tmp_path / "app" / "worker" / "tasks" / "pipe.py")
    for paths in (["app/worker/tasks/pipe.py"], ["app/worker/tasks/pipe.py", "app"]):
        result = run_cli(["check", "--no-cache", "--format", "json", *paths], tmp_path)
        assert result.returncode == 1, result.stderr
        violations = json.loads(result.stdout)["violations"]
        assert [(v["path"], v["code"]) for v in violations] == [
            ("app/worker/tasks/pipe.py", "TG900")
        ]


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_write_baseline_over_no_file_writes_nothing_and_says_why(tmp_path: Path, fmt: str) -> None:
    write_project(tmp_path, {"app/worker/tasks/m.py": "import httpx\n"}, TABLE)
    first = run_cli(["check", "--no-cache", "--write-baseline"], tmp_path)
    assert first.returncode == 0, first.stderr
    baseline = tmp_path / "taskguard-baseline.json"
    recorded = baseline.read_text(encoding="utf-8")
    assert "httpx" in recorded
    # Then a setting leaves every file out: an empty run must not wipe the baseline.
    (tmp_path / "pyproject.toml").write_text(TABLE + 'exclude = ["app/**"]\n', encoding="utf-8")
    result = run_cli(["check", "--no-cache", "--write-baseline", "--format", fmt], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "no files checked: 4 Python file(s)" in result.stderr
    assert "left out by exclude" in result.stderr
    assert "wrote" not in result.stderr
    assert baseline.read_text(encoding="utf-8") == recorded


TYPE_CHECKING_REBOUND = {
    "a relative star import after it": "from typing import TYPE_CHECKING\nfrom .conf import *\n",
    "a star import after typing's": "from typing import *\nfrom .conf import *\n",
    "a star import of a local module named typing": "from .typing import *\n",
    "TYPE_CHECKING = False then a star import": "TYPE_CHECKING = False\nfrom .conf import *\n",
}


@pytest.mark.parametrize("head", TYPE_CHECKING_REBOUND.values(), ids=list(TYPE_CHECKING_REBOUND))
def test_a_star_import_that_may_rebind_type_checking_makes_its_block_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, head: str
) -> None:
    # app/worker/tasks/conf.py sets TYPE_CHECKING = True: the block runs, httpx is imported.
    files = {
        "app/worker/tasks/m.py": head + "if TYPE_CHECKING:\n    import httpx\n",
        "app/worker/tasks/conf.py": "TYPE_CHECKING = True\n",
        "app/worker/tasks/typing.py": "TYPE_CHECKING = True\n",
    }
    write_project(tmp_path, files, TABLE)
    monkeypatch.chdir(tmp_path)
    result = check(["app"], use_cache=False)
    assert [(v.path, v.code) for v in result.violations] == [("app/worker/tasks/m.py", "TG002")]


def test_typing_s_type_checking_without_a_foreign_star_import_still_hides_its_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = "from typing import *\nfrom .conf import x\nif TYPE_CHECKING:\n    import httpx\n"
    files = {"app/worker/tasks/m.py": source, "app/worker/tasks/conf.py": "x = 1\n"}
    write_project(tmp_path, files, TABLE)
    monkeypatch.chdir(tmp_path)
    assert not check(["app"], use_cache=False).violations


def test_a_first_party_directory_linked_into_a_protected_package_is_judged_there(
    tmp_path: Path,
) -> None:
    # Python imports the linked file a second time as app.worker.tasks.shared.helpers, a
    # protected module: its httpx must be reported there, not only under its real name
    # (where it is allowed). A link back to an ancestor is not entered: the walk ends.
    write_project(
        tmp_path,
        {
            "app/shared/__init__.py": "",
            "app/shared/helpers.py": "import httpx\n",
            "app/worker/tasks/m.py": "x = 1\n",
        },
        TABLE,
    )
    tasks = tmp_path / "app" / "worker" / "tasks"
    (tasks / "shared").symlink_to(tmp_path / "app" / "shared", target_is_directory=True)
    (tasks / "up").symlink_to(tmp_path / "app", target_is_directory=True)
    for args in (["--no-cache"], ["--no-cache", "--parse-all"], [], []):  # cold, then cached
        result = run_cli(["check", "--format", "json", *args], tmp_path)
        assert result.returncode == 1, result.stderr
        violations = json.loads(result.stdout)["violations"]
        assert [(v["path"], v["code"], v["importer"]) for v in violations] == [
            ("app/worker/tasks/shared/helpers.py", "TG002", "app.worker.tasks.shared.helpers"),
        ]
