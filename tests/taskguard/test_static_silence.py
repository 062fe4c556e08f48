"""Never silent: every ``# taskguard:`` comment is a valid suppression or a TG005 saying what
is wrong with it; line numbers follow Python's own line splitting; TG004 reports a pair once;
``TYPE_CHECKING``, ``eval`` and friends are recognised by what they are bound to; member
entries catch star imports and the defining module; a run that checked nothing is exit 2;
a misspelt ``[tool.taskguard]`` table is an error.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from _check_support import found, run_cli, write_project

from taskguard import PolicyError, check

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.worker.tasks"]
forbidden-in-protected = ["httpx", "requests", "multiprocessing",
                          "concurrent.futures.ProcessPoolExecutor"]
"""
MODULE = "app/worker/tasks/job.py"


def run(tmp_path: Path, source: str | bytes, table: str = TABLE, **files: str) -> list[tuple]:
    write_project(tmp_path, {MODULE: source, **files}, table)
    result = check([str(tmp_path)], use_cache=False)
    return [(v.line, v.code, v.imported, v.message) for v in result.violations]


# --------------------------------------------------------------------------- suppressions

VALID = [
    "import httpx  # taskguard: ignore[TG002] -- health probe",
    "import httpx  # taskguard: ignore[tg002] -- lower-case codes are fine",
    "import httpx  # taskguard:ignore[TG002]--no spaces",
    "import httpx  # noqa: F401  # taskguard: ignore[TG002] -- after ruff's",
    "import httpx  # noqa: F401 # taskguard: ignore[TG002] -- after ruff's, one space",
    "import httpx  # type: ignore[import]  # taskguard: ignore[TG002] -- after mypy's",
    "import httpx  # taskguard: ignore[TG002] -- reason  # noqa: F401",
    "import httpx  # noqa  # taskguard: ignore[TG002, TG003] -- two codes",
]


@pytest.mark.parametrize("line", VALID)
def test_valid_suppressions_wherever_they_stand_in_the_comment(tmp_path: Path, line: str) -> None:
    got = run(tmp_path, line + "\n")
    if "TG003" in line:
        # The second code matched nothing: the suppression is valid, and stale for it.
        assert [(c, m) for _l, c, _i, m in got] == [
            ("TG005", "inline suppression ignore[TG003] matched nothing; remove it")
        ]
    else:
        assert got == []


MALFORMED = [
    ("import httpx  # taskguard: ignore[TG002] - one dash", "one dash before the reason"),
    ("import httpx  # taskguard: ignore[TG002] \u2014 em dash", "an em dash before the reason"),
    ("import httpx  # taskguard: ignore[TG002] \u2013 en dash", "an en dash before the reason"),
    ("import httpx  # taskguard: ignore[TG002]", "no reason"),
    ("import httpx  # taskguard: ignore[TG002] --", "no reason"),
    ("import httpx  # taskguard: ignore[TG002] because", "no '--' before the reason"),
    ("import httpx  # taskguard: ignore[TG999] -- reason", "unknown code TG999"),
    ("import httpx  # taskguard: ignore -- reason", "no codes"),
    ("import httpx  # taskguard: ignore[] -- reason", "no codes"),
    ("import httpx  # taskguard: ignore[TG002 -- reason", "no closing ']'"),
    ("import httpx  # taskguard: disable[TG002] -- reason", "unknown directive"),
    ("import httpx  # taskguard ignore[TG002] -- reason", "no ':' after 'taskguard'"),
    ("import httpx  # noqa: F401 # taskguard: ignore[TG002] - dash", "one dash before the reason"),
    ("import httpx  # noqa: F401  # taskguard: ignore[TG002]", "no reason"),
    ("import httpx  # see notes # taskguard: ignore[TG999] -- r", "unknown code TG999"),
    ("import httpx  # taskguard: ignore[TG900] -- r", "TG900 cannot be suppressed"),
]


@pytest.mark.parametrize(("line", "problem"), MALFORMED)
def test_malformed_suppressions_are_tg005_saying_what_is_wrong(
    tmp_path: Path, line: str, problem: str
) -> None:
    got = run(tmp_path, line + "\n")
    codes = sorted(c for _l, c, _i, _m in got)
    # The import stays reported: a malformed suppression suppresses nothing.
    assert codes == ["TG002", "TG005"], got
    (message,) = [m for _l, c, _i, m in got if c == "TG005"]
    assert problem in message, message


def test_a_suppression_in_a_file_the_prefilter_would_rule_out_is_still_judged(
    tmp_path: Path,
) -> None:
    got = run(tmp_path, "x = 1  # taskguard: ignore[TG002] - one dash\n")
    assert [(c, "one dash" in m) for _l, c, _i, m in got] == [("TG005", True)]


def test_text_mentioning_taskguard_is_no_directive(tmp_path: Path) -> None:
    source = (
        "# taskguard checks this module\n"
        "x = '# taskguard: ignore[TG002]'  # a string is no comment\n"
        "# the taskguard: ignore syntax is documented elsewhere\n"
    )
    assert run(tmp_path, source) == []


# --------------------------------------------------------------------------- line endings


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_lines_and_suppressions_follow_pythons_line_splitting(tmp_path: Path, newline: str) -> None:
    text = (
        "x = 1\n"
        "import httpx  # taskguard: ignore[TG002] -- probe\n"
        "import requests\n"
        "y = '''a\nb'''\n"
        "import multiprocessing\n"
    )
    data = text.replace("\n", newline).encode()
    expected_lines = {
        node.names[0].name: node.lineno
        for node in ast.walk(ast.parse(data))
        if isinstance(node, ast.Import)
    }
    got = run(tmp_path, data)
    assert [(line, imported) for line, _c, imported, _m in got] == [
        (expected_lines["requests"], "requests"),
        (expected_lines["multiprocessing"], "multiprocessing"),
    ]
    assert expected_lines == {"httpx": 2, "requests": 3, "multiprocessing": 6}


def test_mixed_line_endings(tmp_path: Path) -> None:
    data = b"x = 1\rimport httpx  # taskguard: ignore[TG002] -- probe\r\nimport requests\n"
    assert [(line, i) for line, _c, i, _m in run(tmp_path, data)] == [(3, "requests")]


# --------------------------------------------------------------------------- TG004 once


def test_tg004_reports_a_pair_once_with_one_chain(tmp_path: Path) -> None:
    table = TABLE + "indirect = true\n"
    got = run(
        tmp_path,
        "import app.helpers\n",
        table,
        **{"app/helpers.py": "import multiprocessing.pool\nimport multiprocessing.queues\n"},
    )
    assert [(c, i) for _l, c, i, _m in got] == [("TG004", "multiprocessing")]
    assert got[0][3] == (
        "app.worker.tasks.job reaches forbidden multiprocessing through "
        "app.worker.tasks.job -> app.helpers -> multiprocessing.pool"
    )


def test_tg004_once_per_pair_across_helpers_and_a_direct_import_is_tg002(tmp_path: Path) -> None:
    table = TABLE + "indirect = true\n"
    got = run(
        tmp_path,
        "import app.a\nimport app.b\nimport multiprocessing.shared_memory\n",
        table,
        **{"app/a.py": "import multiprocessing.pool\n", "app/b.py": "import httpx\n"},
    )
    assert sorted((c, i) for _l, c, i, _m in got) == [
        ("TG002", "multiprocessing.shared_memory"),
        ("TG004", "httpx"),
    ]


# --------------------------------------------------------------------------- TYPE_CHECKING

SKIPPED = [
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx\n",
    "from typing_extensions import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx\n",
    "from typing import TYPE_CHECKING as TC\nif TC:\n    import httpx\n",
    "import typing as t\nif t.TYPE_CHECKING:\n    import httpx\n",
    "import typing\nif typing.TYPE_CHECKING:\n    import httpx\n",
    "import typing_extensions as te\nif te.TYPE_CHECKING:\n    import httpx\n",
    "from typing import *\nif TYPE_CHECKING:\n    import httpx\n",
    "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    import httpx\n",
    "from typing import TYPE_CHECKING\nif not TYPE_CHECKING:\n    pass\nelse:\n    import httpx\n",
    "from typing import TYPE_CHECKING\ndef f():\n    if TYPE_CHECKING:\n        import httpx\n",
]
RUNS = [
    "from app import settings\nif settings.TYPE_CHECKING:\n    import httpx\n",
    "TYPE_CHECKING = True\nif TYPE_CHECKING:\n    import httpx\n",
    "if TYPE_CHECKING:\n    import httpx\n",
    "from app.compat import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx\n",
    "from typing import TYPE_CHECKING\nTYPE_CHECKING = True\nif TYPE_CHECKING:\n    import httpx\n",
    "from typing import TYPE_CHECKING\ndef f(TYPE_CHECKING):\n    if TYPE_CHECKING:\n"
    "        import httpx\n",
    "import typing as t\nt = object()\nif t.TYPE_CHECKING:\n    import httpx\n",
    "from typing import TYPE_CHECKING\nif not TYPE_CHECKING:\n    import httpx\n",
    "import os as typing\nif typing.TYPE_CHECKING:\n    import httpx\n",
]


@pytest.mark.parametrize("source", SKIPPED)
def test_type_checking_recognised_by_what_it_is_bound_to(tmp_path: Path, source: str) -> None:
    assert run(tmp_path, source) == []


@pytest.mark.parametrize("source", RUNS)
def test_names_merely_spelled_type_checking_run(tmp_path: Path, source: str) -> None:
    assert [(c, i) for _l, c, i, _m in run(tmp_path, source)] == [("TG002", "httpx")]


# --------------------------------------------------------------------------- local builtins

LOCAL = [
    "def f(eval):\n    return eval('x')\n",
    "def f():\n    def compile(x):\n        return x\n    return compile('x')\n",
    "def f():\n    exec = print\n    exec('x')\n",
    "def f():\n    from re import compile\n    return compile('x')\n",
    "def f():\n    import builtins as eval\n    return eval\n",
    "g = lambda eval: eval('x')\n",
    "xs = [eval('1') for eval in (str,)]\n",
    "def f():\n    for exec in (print,):\n        exec('x')\n",
    "def f():\n    with open('x') as compile:\n        compile('x')\n",
    "def f():\n    print(eval('x'))\n    eval = str\n",
    "class C:\n    compile = staticmethod(str)\n    value = compile('x')\n",
    "def outer():\n    eval = str\n    def inner():\n        nonlocal eval\n"
    "        return eval('x')\n",
    "from re import compile\ncompile('x')\n",
    "compile = str\ndef f():\n    return compile('x')\n",
]
BUILTIN = [
    # g() may run before f() has bound the module's compile: then it is the builtin.
    "def f():\n    global compile\n    compile = str\ndef g():\n    return compile('x')\n",
    "def f():\n    from re import compile\ndef g():\n    return compile('x')\n",
    "def f():\n    global eval\n    return eval('x')\n",
    "class C:\n    compile = staticmethod(str)\n    def m(self):\n        return compile('x')\n",
    "xs = [str for eval in (1,)]\nvalue = eval('x')\n",
    "def f(x=eval('1'), eval=None):\n    return x\n",
    "def f():\n    return eval('x')\ndef g(eval):\n    return eval\n",
]


@pytest.mark.parametrize("source", LOCAL)
def test_local_names_are_not_the_builtins(tmp_path: Path, source: str) -> None:
    assert run(tmp_path, source) == []


@pytest.mark.parametrize("source", BUILTIN)
def test_the_builtins_are_still_tg003(tmp_path: Path, source: str) -> None:
    assert [c for _l, c, _i, _m in run(tmp_path, source)] == ["TG003"]


# --------------------------------------------------------------------------- member entries


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("from concurrent.futures import *\n\npool = ProcessPoolExecutor()\n", 3),
        ("from concurrent import *\nx = 1\npool = futures.ProcessPoolExecutor()\n", 3),
        ("from concurrent.futures.process import ProcessPoolExecutor\n", 1),
        ("from concurrent.futures.process import ProcessPoolExecutor as P\n", 1),
        ("import concurrent.futures.process as p\nx = p.ProcessPoolExecutor\n", 2),
        ("from concurrent.futures import process\nx = process.ProcessPoolExecutor()\n", 2),
        ("from concurrent.futures.process import *\nx = 1\nProcessPoolExecutor()\n", 3),
        (
            "import pkgutil\n"
            "pkgutil.resolve_name('concurrent.futures.process:ProcessPoolExecutor')\n",
            2,
        ),
    ],
)
def test_member_entries_catch_star_imports_and_the_defining_module(
    tmp_path: Path, source: str, line: int
) -> None:
    got = run(tmp_path, source)
    assert [(ln, c) for ln, c, _i, _m in got] == [(line, "TG002")], got
    assert "ProcessPoolExecutor" in str(got[0][2])
    # The prefilter lets each of them through (the default mode parses only what it passes).
    write_project(tmp_path, {MODULE: source}, TABLE)
    assert found(check([str(tmp_path)], use_cache=False, parse_all=True)) == found(
        check([str(tmp_path)], use_cache=False)
    )


@pytest.mark.parametrize(
    "source",
    [
        "from concurrent.futures import *\npool = ThreadPoolExecutor()\n",
        "from concurrent.futures import *\ndef f(ProcessPoolExecutor):\n"
        "    return ProcessPoolExecutor()\n",
        "from concurrent.futures.thread import ThreadPoolExecutor\n",
        "from concurrent.futures.process import BrokenProcessPool\n",
    ],
)
def test_member_entries_leave_the_other_members_alone(tmp_path: Path, source: str) -> None:
    assert run(tmp_path, source) == []


def test_the_defining_module_is_judged_as_the_entry_allow_entries_included(
    tmp_path: Path,
) -> None:
    table = (
        TABLE
        + '[[tool.taskguard.allow]]\nimporter = "app.worker.tasks.job"\n'
        + 'imported = "concurrent.futures.ProcessPoolExecutor"\nreason = "cpu-bound"\n'
    )
    source = "from concurrent.futures.process import ProcessPoolExecutor\n"
    assert run(tmp_path, source, table) == []
    message = run(tmp_path, source)[0][3]
    assert "concurrent.futures.process.ProcessPoolExecutor" in message
    assert "concurrent.futures.ProcessPoolExecutor" in message


# --------------------------------------------------------------------------- nothing checked


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
@pytest.mark.parametrize(
    ("files", "table", "paths", "why"),
    [
        ({"docs/conf.py": "x = 1\n"}, TABLE, ["docs"], "docs/conf.py"),
        ({"lib/mod.py": "x = 1\n"}, TABLE, [], "root-packages"),
        (
            {"app/worker/tasks/job.py": "import httpx\n"},
            TABLE + 'exclude = ["app/**"]\n',
            [],
            "exclude",
        ),
        ({}, TABLE, ["notes"], "no Python files under notes"),
    ],
)
def test_a_run_that_checked_no_file_is_exit_2_saying_why(
    tmp_path: Path,
    files: dict[str, str],
    table: str,
    paths: list[str],
    why: str,
    fmt: str,
) -> None:
    write_project(tmp_path, files, table)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no Python here\n", encoding="utf-8")
    done = run_cli(["check", "--no-cache", "--format", fmt, *paths], tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "no files checked" in done.stderr, done.stderr
    assert why in done.stderr, done.stderr


def test_the_library_says_why_nothing_was_checked(tmp_path: Path) -> None:
    write_project(tmp_path, {"lib/mod.py": "x = 1\n"})
    result = check([str(tmp_path)], use_cache=False)
    assert result.files_checked == 0
    assert "root-packages" in result.empty_reason
    write_project(tmp_path, {"app/mod.py": "x = 1\n"})
    assert check([str(tmp_path)], use_cache=False).empty_reason == ""


# --------------------------------------------------------------------------- [tool.*] typos


@pytest.mark.parametrize(
    "name", ["taskgaurd", "task-guard", "task_guard", "taskguards", "TaskGuard", "tasksguard"]
)
def test_a_near_miss_of_the_table_name_is_an_error(tmp_path: Path, name: str) -> None:
    table = TABLE.replace("[tool.taskguard]", f"[tool.{name}]")
    write_project(tmp_path, {MODULE: "import httpx\n"}, table)
    with pytest.raises(PolicyError, match=rf"tool\.{name}.*tool\.taskguard"):
        check([str(tmp_path)], use_cache=False)
    done = run_cli(["check"], tmp_path)
    assert done.returncode == 2
    assert f"[tool.{name}]" in done.stderr, done.stderr
    assert "[tool.taskguard]" in done.stderr
    # Cached runs read the table from the cache: the near miss is still an error.
    done = run_cli(["check"], tmp_path)
    assert done.returncode == 2
    # Beside a real table too: its settings would be silently ignored.
    (tmp_path / "pyproject.toml").write_text(TABLE + "\n" + table, encoding="utf-8")
    assert run_cli(["check"], tmp_path).returncode == 2


def test_other_tools_tables_are_fine(tmp_path: Path) -> None:
    table = TABLE + "[tool.taskgroup]\nx = 1\n[tool.ruff]\nline-length = 99\n"
    write_project(tmp_path, {MODULE: "import json\n"}, table)
    done = run_cli(["check", "--format", "json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["violations"] == []


def test_the_plugins_check_item_fails_when_nothing_was_checked(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.taskguard]\nroot-packages = ["app"]\n')
    pytester.makepyfile(test_x="def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--taskguard-check")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*no files checked*root-packages*"])


def test_comments_the_tokenizer_cannot_read_suppress_nothing_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where this Python's tokenizer disagrees with its parser, guessing comments from the
    # text would let a string suppress an import: nothing is suppressed, and TG005 says why.
    import tokenize

    from taskguard._static import suppress

    def failing(readline: object) -> object:
        raise tokenize.TokenError("simulated", (1, 0))

    monkeypatch.setattr(suppress.tokenize, "tokenize", failing)
    got = run(tmp_path, "import httpx  # taskguard: ignore[TG002] -- reason\n")
    assert [c for _l, c, _i, _m in got] == ["TG002", "TG005"]
    assert "could not be read" in got[1][3]


def test_tg004_follows_a_member_imported_from_its_defining_module(tmp_path: Path) -> None:
    table = TABLE + "indirect = true\n"
    got = run(
        tmp_path,
        "from app import pools\n",
        table,
        **{"app/pools.py": "from concurrent.futures.process import ProcessPoolExecutor\n"},
    )
    assert [(c, i) for _l, c, i, _m in got] == [("TG004", "concurrent.futures.ProcessPoolExecutor")]
