"""``TYPE_CHECKING`` rebound through the module's namespace, which no binding shows
(``globals()["TYPE_CHECKING"] = True`` before ``if TYPE_CHECKING: import httpx``): the
module's ``TYPE_CHECKING`` blocks then count as runtime code (fail closed). Reading the
namespace changes nothing. What another module does to this one is a documented limit,
pinned here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from _check_support import write_project

from taskguard import check
from taskguard._static.namespace import may_rebind, spelled

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.worker.tasks"]
forbidden-in-protected = ["httpx"]
"""
MODULE = "app/worker/tasks/job.py"
BLOCK = "from typing import TYPE_CHECKING\n{before}\nif TYPE_CHECKING:\n    import httpx\n"

REBINDS = [
    'globals()["TYPE_CHECKING"] = True',
    "globals().update(TYPE_CHECKING=True)",
    'globals().setdefault("TYPE_CHECKING", True)',
    'globals().__setitem__("TYPE_CHECKING", True)',
    'globals().pop("TYPE_CHECKING")',
    'del globals()["TYPE_CHECKING"]',
    'vars()["TYPE_CHECKING"] = True',
    'locals()["TYPE_CHECKING"] = True',
    'namespace = globals()\nnamespace["TYPE_CHECKING"] = True',
    "dict.update(globals(), TYPE_CHECKING=True)",
    'import operator\noperator.setitem(globals(), "TYPE_CHECKING", True)',
    "import sys\nsys.modules[__name__].TYPE_CHECKING = True",
    'import sys\nsys.modules[__name__].__dict__["TYPE_CHECKING"] = True',
    'import sys\nvars(sys.modules[__name__])["TYPE_CHECKING"] = True',
    'import sys\nsetattr(sys.modules[__name__], "TYPE_CHECKING", True)',
    "import sys\nme = sys.modules[__name__]\nme.__dict__.update(TYPE_CHECKING=True)",
    'import sys\nsys.modules[__name__].__setattr__("TYPE_CHECKING", True)',
    "import app.worker.tasks.job as me\nme.TYPE_CHECKING = True",
    'import sys\nsys.modules["typing"] = type(sys)("typing")',
    "import typing\ntyping.TYPE_CHECKING = True",
    "import typing\n(typing.  # the flag, in brackets\n    TYPE_CHECKING) = True",
    'exec("TYPE_CHECKING = True")',
    'eval("(TYPE_CHECKING := True)")',
    'def f():\n    globals()["TYPE_CHECKING"] = True',
]
READS = [
    'value = globals()["TYPE_CHECKING"]',
    'value = globals().get("TYPE_CHECKING")',
    'present = "TYPE_CHECKING" in globals()',
    "names = [name for name in globals()]",
    "count = len(globals())",
    "import sys\nme = sys.modules[__name__]",
    "import sys\nvalue = sys.modules[__name__].TYPE_CHECKING",
    "snapshot = globals().copy()",
]


def run(tmp_path: Path, source: str, **files: str) -> list[tuple[str, int, str, str | None]]:
    write_project(tmp_path, {MODULE: source, **files}, TABLE)
    result = check([str(tmp_path)], use_cache=False)
    return [(v.path, v.line, v.code, v.imported) for v in result.violations]


@pytest.mark.parametrize("before", REBINDS)
def test_a_namespace_write_makes_type_checking_blocks_count(tmp_path: Path, before: str) -> None:
    source = BLOCK.format(before=before)
    line = source.splitlines().index("    import httpx") + 1
    found = [(code, imported) for _p, at, code, imported in run(tmp_path, source) if at == line]
    assert found == [("TG002", "httpx")]


@pytest.mark.parametrize("before", READS)
def test_reading_the_namespace_changes_nothing(tmp_path: Path, before: str) -> None:
    assert run(tmp_path, BLOCK.format(before=before)) == []


def _runs_standalone(before: str) -> bool:
    # Rebinds that make the block run when the module is executed on its own: not those that
    # need the module imported as itself or would replace typing, nor those that remove the
    # name or set it only when missing (each is a write the checker cannot weigh all the
    # same: fail closed, pinned by the test above).
    if "app.worker.tasks.job" in before or "__name__" in before or "typing" in before:
        return False
    return not any(word in before for word in ("pop(", "del ", "setdefault("))


RUNNABLE = [before for before in REBINDS if _runs_standalone(before)]


def test_most_rebinds_are_checked_by_running_them() -> None:
    # The runtime proof below covers the bulk of the list, not a token few.
    assert len(RUNNABLE) >= 10


@pytest.mark.parametrize("before", RUNNABLE)
def test_the_test_runs_in_python_as_the_checker_says(before: str) -> None:
    # The evasions are real: run (with a stand-in for httpx), each block runs.
    scope: dict[str, object] = {"__name__": "evasion"}
    code = BLOCK.format(before=before).replace("import httpx", "ran = True")
    if before.startswith("def f"):
        code = code.replace("\nif TYPE_CHECKING", "\nf()\nif TYPE_CHECKING")
    exec(compile(code, "<evasion>", "exec"), scope)
    assert scope.get("ran") is True


def test_only_the_module_that_writes_is_affected(tmp_path: Path) -> None:
    other = "app/worker/tasks/other.py"
    clean = BLOCK.format(before="")
    assert run(tmp_path, clean, **{other: 'globals()["TYPE_CHECKING"] = True\n'}) == []


def test_limit_another_module_writing_this_ones_namespace_is_not_seen(tmp_path: Path) -> None:
    # Documented in TG002.md ("Limits"): what one module does to another module's namespace
    # (or to typing's, for the modules imported after it) is not followed.
    writer = "app/worker/tasks/writer.py"
    source = (
        "import app.worker.tasks.job as job\njob.TYPE_CHECKING = True\n"
        "import typing\ntyping.TYPE_CHECKING = True\n"
    )
    assert run(tmp_path, BLOCK.format(before=""), **{writer: source}) == []


def test_may_rebind_is_depth_safe() -> None:
    deep = "x = " + "(" * 150 + "globals()" + ")" * 150 + '\nx["TYPE_CHECKING"] = True\n'
    assert may_rebind(ast.parse(deep), frozenset())
    chain = "y = a" + ".b" * 1_500 + "\n"  # deeper than the recursion limit
    assert not may_rebind(ast.parse(chain), frozenset({"TC"}))


# A module binding of a builtin's name hides the builtin (a local ``eval`` is no TG003),
# unless the module may take that binding out through its namespace: the builtin again.
BUILTIN_AGAIN = [
    'eval = None\nglobals().pop("eval")\neval("__import__(\'httpx\')")\n',
    'def exec(code):\n    return code\ndel globals()["exec"]\nexec("import httpx")\n',
    "import sys\ncompile = str\ndelattr(sys.modules[__name__], 'compile')\n"
    'compile("import httpx", "m", "exec")\n',
]


@pytest.mark.parametrize("source", BUILTIN_AGAIN)
def test_a_builtin_taken_back_through_the_namespace_is_tg003(tmp_path: Path, source: str) -> None:
    assert [code for _p, _l, code, _i in run(tmp_path, source)] == ["TG003"]


def test_a_module_binding_of_a_builtin_name_still_hides_it(tmp_path: Path) -> None:
    assert run(tmp_path, 'def eval(text):\n    return text\neval("import httpx")\n') == []


@pytest.mark.parametrize("before", REBINDS)
def test_the_byte_pretest_passes_every_write(before: str) -> None:
    # spelled() spares most modules the walk: it must never rule out one that writes.
    source = BLOCK.format(before=before)
    assert may_rebind(ast.parse(source), frozenset())
    assert spelled(source.encode(), frozenset())
