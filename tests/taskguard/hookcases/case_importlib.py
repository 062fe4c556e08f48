# ruff: noqa: E402, PT018 - a plain script run in a fresh interpreter
"""__import__(), importlib.import_module and `from importlib import import_module` are
guarded; everything else a guarded module reads from importlib is the real thing."""

import importlib
import importlib.util
import json
import types
from unittest import mock

from _support import POLICY, blocked, done, make_policy, write

from taskguard import install

write(
    {
        "app/api/routers/dyn.py": """
            import importlib
            import importlib.util as util
            from importlib import import_module, reload

            VIEW = importlib
            UTIL = util
            RELOAD = reload

            def via_module():
                return importlib.import_module("fakehttp")

            def via_name():
                return import_module("fakehttp.sub")

            def via_dunder():
                return __import__("fakehttp")

            def relative():
                return importlib.import_module("..legacy", package="app.api.routers")

            def clean():
                return importlib.import_module("json")

            def find():
                return importlib.util.find_spec("json")
        """,
        "app/api/legacy.py": "",
    }
)
policy = make_policy(forbidden_in_protected=(*POLICY.forbidden_in_protected, "app.api.legacy"))
guard = install(policy)
from app.api.routers import dyn

assert blocked(dyn.via_module).imported == "fakehttp"
assert blocked(dyn.via_name).imported == "fakehttp.sub"
assert blocked(dyn.via_dunder).imported == "fakehttp"
assert blocked(dyn.relative).imported == "app.api.legacy"
assert dyn.clean() is json
assert dyn.find() is not None and dyn.find().name == "json"

view = dyn.VIEW
assert view is not importlib and isinstance(view, types.ModuleType)
assert view.__name__ == "importlib" and view.__spec__ is importlib.__spec__
assert view.util is importlib.util and dyn.UTIL is importlib.util
assert dyn.RELOAD is importlib.reload
assert "import_module" in dir(view) and "reload" in dir(view)
for violation in guard.violations:
    assert violation.path == dyn.__file__

# the view looks the real import_module up at call time
with mock.patch("importlib.import_module", return_value="patched") as patched:
    assert dyn.clean() == "patched"
    patched.assert_called_once_with("json", None)
done()
