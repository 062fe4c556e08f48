# ruff: noqa: E402, PT018 - a plain script run in a fresh interpreter
"""Standard-library helpers that import by name on behalf of protected code:
pkgutil.resolve_name and runpy.run_module are checked by the guarded module's views of
pkgutil and runpy, loaded target or not; importlib.util.find_spec, importlib.resources and
the pure-Python unpickler are seen through by the frame check (first loads). A third-party
library's own lazy import is not blamed on its caller."""

import pkgutil
import sys
from types import ModuleType
from unittest import mock

from _support import POLICY, blocked, done, unload, write

from taskguard import install

write(
    {
        "app/api/routers/resolve.py": """
            import pkgutil
            import runpy
            import importlib.util
            import importlib.resources
            import pickle
            from pkgutil import resolve_name

            def by_resolve_name():
                return pkgutil.resolve_name("fakehttp:NAME")

            def by_resolve_name_dotted():
                return pkgutil.resolve_name("fakehttp.sub.NAME")

            def by_runpy():
                return runpy.run_module("fakehttp.sub")

            def by_find_spec():
                return importlib.util.find_spec("fakehttp.sub")

            def by_resources():
                return importlib.resources.files("fakehttp")

            def by_python_unpickler():
                return pickle._loads(b"cfakehttp\\nNAME\\n.")

            def by_resolve_name_imported():
                return resolve_name("fakehttp:NAME")

            def by_resolve_name_member():
                return pkgutil.resolve_name("concurrent.futures:ProcessPoolExecutor")

            def reload_it():
                import importlib, sys
                return importlib.reload(sys.modules["fakehttp"])

            def resolve_clean():
                return pkgutil.resolve_name("json:dumps")

            def through_a_library():
                import thirdparty
                return thirdparty.load()
        """,
        "thirdparty/__init__.py": """
            def load():
                import fakehttp
                return fakehttp.NAME
        """,
    }
)
guard = install(POLICY)
import app.api.routers.resolve as r

first_loads = (
    (r.by_resolve_name, 9),
    (r.by_resolve_name_dotted, 12),
    (r.by_runpy, 15),
    (r.by_find_spec, 18),
    (r.by_resources, 21),
    (r.by_python_unpickler, 24),
    (r.by_resolve_name_imported, 27),
)
for call, line in first_loads:
    unload("fakehttp")
    err = blocked(call)
    imported = "fakehttp.sub" if call is r.by_runpy else "fakehttp"  # the name asked for
    assert (err.importer, err.imported, err.lineno) == (
        "app.api.routers.resolve",
        imported,
        line,
    ), (call.__name__, err.importer, err.imported, err.lineno)
    assert "fakehttp" not in sys.modules, call.__name__

# loaded already: the views of pkgutil and runpy still check
import fakehttp  # noqa: F401

for call in (r.by_resolve_name, r.by_resolve_name_dotted, r.by_runpy, r.by_resolve_name_imported):
    assert blocked(call).imported.startswith("fakehttp"), call.__name__
err = blocked(r.by_resolve_name_member)
assert err.imported == "concurrent.futures.ProcessPoolExecutor", err.imported
import json

# reloading a loaded forbidden module finds it again: the frame check sees who asked
assert blocked(r.reload_it).imported == "fakehttp"
assert r.resolve_clean() is json.dumps
with mock.patch("pkgutil.resolve_name", return_value="patched"):  # looked up at call time
    assert r.resolve_clean() == "patched"
assert isinstance(r.pkgutil, ModuleType) and r.pkgutil is not pkgutil
assert r.pkgutil.iter_modules is pkgutil.iter_modules  # everything else is the real module

# the library's own import is the library's business, not the router's
unload("fakehttp")
assert r.through_a_library() == "fakehttp"
assert sorted({v.line for v in guard.violations}) == [9, 12, 15, 18, 21, 24, 27, 30, 34], [
    v.line for v in guard.violations
]
done()
