"""Loaders by name beyond ``importlib.import_module`` (audit of #12): ``pydoc.locate`` and
``pydoc.safeimport``, ``importlib._bootstrap._gcd_import``, ``importlib.__import__``,
``imp``'s loaders by path, and a loader's ``load_module``/``exec_module``. A constant name
is judged like an import statement (TG002 when forbidden), anything else is TG003 in
protected code; the default mode (the prefilter) agrees with the full analysis.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _check_support import write_project

from taskguard import check
from taskguard._static import FULL, run_check

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.worker.tasks"]
forbidden-in-protected = ["httpx", "requests", "urllib.request"]
"""

PROTECTED = "app/worker/tasks/m.py"


def codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, rel: str) -> list[str]:
    write_project(tmp_path, {rel: source}, TABLE)
    monkeypatch.chdir(tmp_path)
    # The full analysis (every file, every expression) is the oracle for both modes.
    reference = run_check(use_cache=False, mode=FULL, jobs=1)
    for parse_all in (False, True):
        result = check(use_cache=False, parse_all=parse_all, jobs=1)
        assert result.violations == reference.violations
    return [v.code for v in reference.violations]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # pydoc.locate imports the longest importable prefix: the forbidden one is reported.
        ("import pydoc\npydoc.locate('httpx.Client')\n", ["TG002"]),
        ("from pydoc import locate as find\nfind(path='requests')\n", ["TG002"]),
        ("import pydoc\npydoc.locate('json.decoder')\n", []),
        # locate has no "module:attribute" form: it imports nothing for one.
        ("import pydoc\npydoc.locate('httpx:Client')\n", []),
        ("import pydoc\npydoc.locate(name)\n", ["TG003"]),
        ("import pydoc\npydoc.safeimport('urllib.request')\n", ["TG002"]),
        ("import pydoc\npydoc.safeimport(name)\n", ["TG003"]),
        ("import pydoc\npydoc.importfile('plugin.py')\n", ["TG003"]),
        ("import pydoc\ngetattr(pydoc, attr)('httpx')\n", ["TG003"]),
        ("from importlib._bootstrap import _gcd_import\n_gcd_import('httpx')\n", ["TG002"]),
        ("import importlib._bootstrap as b\nb._gcd_import('json')\n", []),
        ("import importlib._bootstrap\nimportlib._bootstrap._gcd_import(name)\n", ["TG003"]),
        # A level makes the name relative to the package argument.
        ("import importlib._bootstrap as b\nb._gcd_import('tasks', 'app', 1)\n", ["TG003"]),
        ("import _frozen_importlib as f\nf._gcd_import('requests')\n", ["TG002"]),
        ("from _frozen_importlib import __import__ as i\ni('httpx')\n", ["TG002"]),
        ("import _frozen_importlib\n_frozen_importlib._gcd_import(name)\n", ["TG003"]),
        ("import _frozen_importlib_external as e\ne.SourceFileLoader('m', 'm.py')\n", ["TG003"]),
        ("import importlib._bootstrap as b\nb.__import__('httpx')\n", ["TG002"]),
        ("import importlib\nimportlib.__import__('httpx')\n", ["TG002"]),
        ("import importlib\nimportlib.__import__(name)\n", ["TG003"]),
        # imp (3.10, 3.11) loads from a path or an open file whatever the name.
        ("import imp\nimp.load_source('httpx', 'vendored.py')\n", ["TG003"]),
        ("from imp import *\nload_module('m', handle, 'm.py', description)\n", ["TG003"]),
        ("import imp as i\nload = i.load_package\n", ["TG003"]),
        ("__loader__.load_module('x')\n", ["TG003"]),
        ("spec.loader.exec_module(module)\n", ["TG003"]),
        ("spec = find_spec()\nspec.loader.load_module()\n", ["TG003"]),
        # The loader of a module found by name: the finding call is what is judged.
        ("import importlib.util as u\nu.find_spec('httpx').loader.exec_module(m)\n", ["TG002"]),
        ("import importlib.util as u\nu.find_spec(name).loader.load_module()\n", ["TG003"]),
        ("import pkgutil\npkgutil.get_loader('json').load_module()\n", []),
    ],
)
def test_loaders_by_name_in_a_protected_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: list[str]
) -> None:
    assert codes(tmp_path, monkeypatch, source, PROTECTED) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Outside protected code only a dispatch library imported by a constant name counts.
        ("import pydoc\npydoc.locate('google.cloud.tasks_v2')\n", ["TG001"]),
        (
            "from importlib._bootstrap import _gcd_import\n_gcd_import('google.cloud.tasks')\n",
            ["TG001"],
        ),
        ("import pydoc\npydoc.locate(name)\n", []),
        ("import imp\nimp.load_source('m', 'm.py')\n", []),
        ("spec.loader.exec_module(module)\n", []),
    ],
)
def test_loaders_by_name_outside_protected_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: list[str]
) -> None:
    assert codes(tmp_path, monkeypatch, source, "app/util.py") == expected


def test_a_method_named_like_a_loader_on_an_unrelated_word_is_not_a_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only a call runs a module: a reference, or a longer name, is nothing.
    source = "handler = registry.load_module\nregistry.load_modules()\nimpl = 1\n"
    assert codes(tmp_path, monkeypatch, source, PROTECTED) == []


def test_the_tables_name_what_the_standard_library_has() -> None:
    # The names are read, never imported, by the checker: this keeps them honest.
    import importlib
    import pydoc
    import sys
    import warnings

    from taskguard._static.names import BY_NAME_CALLS, RUNNERS, STAR_NAMES

    assert sys.modules["_frozen_importlib"] is importlib._bootstrap
    for qualified in [*BY_NAME_CALLS, *RUNNERS]:
        module, _, name = qualified.rpartition(".")
        if module == "imp" and sys.version_info >= (3, 12):
            continue  # removed in 3.12
        if module == "builtins":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # imp says it is deprecated
            owner = importlib.import_module(module)
        assert callable(getattr(owner, name)), qualified
    assert "locate" not in pydoc.__all__  # ``from pydoc import *`` binds no loader
    if sys.version_info < (3, 12):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            imp = importlib.import_module("imp")
        assert not hasattr(imp, "__all__")  # a star import binds every public name
        assert set(STAR_NAMES["imp"]) <= {n for n in dir(imp) if not n.startswith("_")}
