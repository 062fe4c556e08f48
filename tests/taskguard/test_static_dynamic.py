"""Dynamic imports and loaders that bypass import statements, in every spelling.

Each case is one module in a protected package (or, where it says so, outside protected
code) with the findings expected from it: TG001/TG002 with the module a constant name
imports, TG003 with the construct the message names. Every case is checked in the default
mode, the fast mode and the reference analysis, which must agree.
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
sanctioned = ["app.infrastructure.tasks_client"]
protected = ["app.api.routers"]
forbidden-in-protected = ["httpx", "requests", "concurrent.futures.ProcessPoolExecutor"]
"""

Expected = list[tuple[int, str, str]]

CASES: dict[str, tuple[str, Expected]] = {
    "resolve_name": (
        """
        import pkgutil
        pkgutil.resolve_name("httpx:Client")
        pkgutil.resolve_name("httpx.Client")
        pkgutil.resolve_name("concurrent.futures:ProcessPoolExecutor")
        pkgutil.resolve_name("concurrent.futures.ProcessPoolExecutor")
        pkgutil.resolve_name("requests")
        pkgutil.resolve_name("json:dumps")
        pkgutil.resolve_name("concurrent.futures:ThreadPoolExecutor")
        def load(name):
            return pkgutil.resolve_name(name)
        """,
        [
            (2, "TG002", "httpx"),
            (3, "TG002", "httpx"),
            (4, "TG002", "concurrent.futures.ProcessPoolExecutor"),
            (5, "TG002", "concurrent.futures.ProcessPoolExecutor"),
            (6, "TG002", "requests"),
            (10, "TG003", "pkgutil.resolve_name() with a non-constant name"),
        ],
    ),
    "resolve_name_aliases": (
        """
        from pkgutil import resolve_name as r
        import pkgutil as pu
        class Handler:
            def get(self):
                from pkgutil import resolve_name as lazy
                return lazy("httpx:AsyncClient"), r(f"requests.Session")
            loader = staticmethod(lambda: pu.resolve_name("httpx"))
        use = r
        """,
        [
            (6, "TG002", "httpx"),
            (6, "TG002", "requests"),
            (7, "TG002", "httpx"),
            (8, "TG003", "a reference to pkgutil.resolve_name"),
        ],
    ),
    "runpy": (
        """
        import runpy
        import runpy as rp
        from runpy import run_path as run_file
        runpy.run_module("httpx")
        rp.run_module(run_name="__main__", mod_name="requests")
        rp.run_module("json")
        def go(name, path):
            rp.run_module(name)
            run_file(path)
            runpy.run_path("script.py")
            return [runpy.run_module for _ in range(1)]
        """,
        [
            (4, "TG002", "httpx"),
            (5, "TG002", "requests"),
            (8, "TG003", "runpy.run_module() with a non-constant name"),
            (9, "TG003", "runpy.run_path()"),
            (10, "TG003", "runpy.run_path()"),
            (11, "TG003", "a reference to runpy.run_module"),
        ],
    ),
    "builtins_namespaces": (
        """
        import builtins, sys, importlib
        globals()["__builtins__"]["__import__"]("httpx")
        vars(builtins)["__import__"]("requests")
        builtins.__dict__["__import__"]("httpx")
        __builtins__.__import__("httpx")
        __builtins__["__import__"]("requests")
        getattr(__builtins__, "__import__")("httpx")
        sys.modules["builtins"].__import__("httpx")
        importlib.import_module("builtins").__import__("requests")
        def nested(name):
            def inner():
                return __builtins__["__import__"](name)
            return inner
        __builtins__["__imp" + "ort__"]("json")
        """,
        [
            (2, "TG002", "httpx"),
            (3, "TG002", "requests"),
            (4, "TG002", "httpx"),
            (5, "TG002", "httpx"),
            (6, "TG002", "requests"),
            (7, "TG002", "httpx"),
            (8, "TG002", "httpx"),
            (9, "TG002", "requests"),
            (12, "TG003", "__import__() with a non-constant name"),
        ],
    ),
    "computed_lookups": (
        """
        import builtins
        def f(key, code):
            globals()[key]
            vars(builtins)[key]("httpx")
            builtins.__dict__.get(key)
            globals().get("__builtins__")
            fn = __builtins__["exec"]
            return getattr(builtins, key)
        """,
        [
            (3, "TG003", "a computed lookup in globals()"),
            (4, "TG003", "a computed lookup in builtins"),
            (5, "TG003", "a computed lookup in builtins"),
            (6, "TG003", "a reference to __builtins__"),
            (7, "TG003", "a reference to exec"),
            (8, "TG003", "getattr() on builtins with a computed name"),
        ],
    ),
    "loaders": (
        """
        import importlib.util, importlib.machinery, zipimport, types
        spec = importlib.util.spec_from_file_location("plugin", "/tmp/plugin.py")
        module = importlib.util.module_from_spec(spec)
        loader = importlib.machinery.SourceFileLoader("plugin", "/tmp/plugin.py")
        archive = zipimport.zipimporter("/tmp/plugins.zip")
        fake = types.ModuleType("plugin")
        exec("import httpx", fake.__dict__)
        importlib.util.find_spec("httpx").loader.load_module()
        from pkgutil import *
        plugins = list(walk_packages(["/srv/plugins"]))
        """,
        [
            (2, "TG003", "importlib.util.spec_from_file_location()"),
            (3, "TG003", "importlib.util.module_from_spec()"),
            (4, "TG003", "importlib.machinery.SourceFileLoader()"),
            (5, "TG003", "zipimport.zipimporter()"),
            (6, "TG003", "types.ModuleType()"),
            (7, "TG003", "exec()"),
            (8, "TG002", "httpx"),
            (10, "TG003", "pkgutil.walk_packages()"),
        ],
    ),
    "loader_aliases": (
        """
        from importlib import util as u
        import importlib.machinery as machinery
        import importlib as il
        from importlib.util import *
        from zipimport import zipimporter as Zip
        from types import ModuleType as Mod
        def build(path):
            s = u.spec_from_file_location("m", path)
            m = u.module_from_spec(s)
            machinery.SourcelessFileLoader("m", path)
            il.util.spec_from_loader("m", None)
            spec_from_file_location("m", path)
            return Zip(path), Mod("m"), [u.module_from_spec for _ in ()]
        """,
        [
            (8, "TG003", "importlib.util.spec_from_file_location()"),
            (9, "TG003", "importlib.util.module_from_spec()"),
            (10, "TG003", "importlib.machinery.SourcelessFileLoader()"),
            (11, "TG003", "importlib.util.spec_from_loader()"),
            (12, "TG003", "importlib.util.spec_from_file_location()"),
            (13, "TG003", "zipimport.zipimporter()"),
            (13, "TG003", "types.ModuleType()"),
            (13, "TG003", "a reference to importlib.util.module_from_spec"),
        ],
    ),
    # Names bound by assignment are not followed, but these method names import anyway.
    "import_methods": (
        """
        import importlib, sys
        il = importlib
        il.import_module("httpx")
        sys.modules["builtins"].__import__("requests")
        def load(registry, name):
            return registry.loader.import_module(name)
        """,
        [
            (3, "TG002", "httpx"),
            (4, "TG002", "requests"),
            (6, "TG003", "import_module() with a non-constant name"),
        ],
    ),
    # The same methods fetched by a constant name (were missed: only ``x.name(...)`` was
    # recognised when ``x`` is not followed).
    "fetched_import_methods": (
        """
        import importlib, sys
        getattr(sys.modules["builtins"], "__import__")("httpx")
        getattr(sys.modules["importlib"], "import_module", None)("requests")
        importlib.__getattribute__("import_module")("httpx")
        def load(registry, name, spec, module):
            getattr(registry, "import_module")(name)
            getattr(spec.loader, "exec_module")(module)
        def shadowed(getattr):
            getattr(sys, "__import__")("httpx")
            getattr(sys, "other")("httpx")
        # A split key on an owner the pass cannot name is out of reach (documented).
        getattr(sys.modules["x"], "import_" "module")("httpx")
        """,
        [
            (2, "TG002", "httpx"),
            (3, "TG002", "requests"),
            (4, "TG002", "httpx"),
            (6, "TG003", "import_module() with a non-constant name"),
            (7, "TG003", "exec_module()"),
        ],
    ),
    # The builtin help() documents a string by importing it, as pydoc.locate (was missed).
    "help_builtin": (
        """
        import builtins
        help("httpx.Client")
        builtins.help("requests")
        help("json")
        def show(topic, help=print):
            help("httpx")
            return __builtins__["help"](topic)
        """,
        [
            (2, "TG002", "httpx"),
            (3, "TG002", "requests"),
            (7, "TG003", "help() with a non-constant name"),
        ],
    ),
    # The namespaces reached through sys.modules by a plain name (were missed).
    "sys_modules_namespaces": (
        """
        import sys
        from sys import modules as loaded
        sys.modules["runpy"].run_module("httpx")
        loaded["pkgutil"].resolve_name("requests:Session")
        sys.modules["builtins"].exec("import httpx")
        getattr(sys.modules["importlib.util"], "spec_from_file_location")("m", "m.py")
        sys.modules["json"].loads("{}")
        sys.modules["ru" "npy"].run_path("x.py")
        """,
        [
            (3, "TG002", "httpx"),
            (4, "TG002", "requests"),
            (5, "TG003", "exec()"),
            (6, "TG003", "importlib.util.spec_from_file_location()"),
        ],
    ),
    # Look-alikes that load nothing: no finding.
    "controls": (
        """
        import importlib.machinery, types, re, sys, builtins
        from typing import Any
        class Loader(importlib.machinery.SourceFileLoader):
            pass
        def kind(value: Any) -> types.ModuleType | None:
            return value if isinstance(value, types.ModuleType) else None
        def run_module(name):
            return name
        run_module("httpx")
        resolve_name = dict.get
        resolve_name({}, "httpx")
        pattern = re.compile("x")
        state = vars(sys)["argv"], globals()["pattern"], builtins.__dict__
        ns = vars(object())
        modules = sys.modules["json"]
        """,
        [],
    ),
}


def _cases() -> list[tuple[str, str, str, Expected]]:
    out = []
    for name, (source, expected) in CASES.items():
        out.append((name, f"app/api/routers/{name}.py", source, expected))
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("dynamic")
    files: dict[str, str | bytes] = {rel: source for _n, rel, source, _e in _cases()}
    # The same constructs outside protected code: only the dispatch library counts (TG001).
    files["app/domain/outside.py"] = """
        import pkgutil, runpy
        from importlib import util
        pkgutil.resolve_name("google.cloud.tasks_v2:CloudTasksClient")
        runpy.run_module("google.cloud.tasks_v2beta3")
        __builtins__["__import__"]("google.cloud.tasks_v2", fromlist=["CloudTasksClient"])
        pkgutil.resolve_name("httpx:Client")
        util.spec_from_file_location("m", "m.py")
        """
    write_project(root, files, TABLE)
    return {
        "default": check([str(root)], use_cache=False),
        "parse-all": check([str(root)], use_cache=False, parse_all=True),
        "full": run_check([str(root)], use_cache=False, mode=FULL),
        "root": root,
    }


def _report(results: dict[str, object], mode: str, path: str) -> Expected:
    root = results["root"]
    assert isinstance(root, Path)
    out = []
    for v in results[mode].violations:  # type: ignore[attr-defined]
        if Path(v.path).resolve() != (root / path).resolve():
            continue
        what = v.imported if v.code != "TG003" else v.message.split(" uses ")[1].split(";")[0]
        out.append((v.line, v.code, what))
    return out


@pytest.mark.parametrize(("name", "path", "source", "expected"), _cases(), ids=list(CASES))
def test_dynamic_forms_in_protected_code(
    results: dict[str, object], name: str, path: str, source: str, expected: Expected
) -> None:
    assert _report(results, "default", path) == expected


def test_outside_protected_code_only_the_dispatch_library_counts(
    results: dict[str, object],
) -> None:
    assert _report(results, "default", "app/domain/outside.py") == [
        (3, "TG001", "google.cloud.tasks_v2"),
        (4, "TG001", "google.cloud.tasks_v2beta3"),
        (5, "TG001", "google.cloud.tasks_v2"),
    ]


def test_every_mode_agrees(results: dict[str, object]) -> None:
    assert results["default"] == results["full"]
    assert results["parse-all"] == results["full"]
