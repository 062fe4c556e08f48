# ruff: noqa: E402, PT018 - a plain script run in a fresh interpreter
"""The builtins and importlib modules as a guarded module sees them: every route to their
import functions is checked, loaded target or not (vars(), __dict__, getattr, from-import,
importlib.__import__, import_module("builtins"), exec handed the builtins module), and
everything else is the live real module: reads, writes, patches, listing."""

import builtins
import importlib
import importlib.util
import types
from unittest import mock

from _support import POLICY, blocked, done, unload, write

from taskguard import install

write(
    {
        "app/api/routers/viewed.py": """
            import builtins
            import importlib
            from builtins import __import__ as imported_dunder

            def attribute():
                return builtins.__import__("fakehttp")

            def by_getattr():
                return getattr(builtins, "__import__")("fakehttp")

            def by_vars():
                return vars(builtins)["__import__"]("fakehttp")

            def by_dict():
                return builtins.__dict__["__import__"]("fakehttp")

            def by_dict_get():
                return builtins.__dict__.get("__import__")("fakehttp")

            def from_import():
                return imported_dunder("fakehttp")

            def importlib_dunder():
                return importlib.__import__("fakehttp")

            def import_module_builtins():
                return importlib.import_module("builtins").__import__("fakehttp")

            def dunder_builtins_module():
                return __import__("builtins").__import__("fakehttp")

            def exec_with_builtins_module():
                exec("import fakehttp", {"__builtins__": builtins})

            def exec_legit(source):
                namespace = {"__builtins__": builtins}
                exec(source, namespace)
                return namespace["result"]

            def length(x):
                return builtins.len(x)

            def listing():
                return sorted(vars(builtins)), "len" in builtins.__dict__, dir(builtins)

            def patch_input(value):
                builtins.tg_marker = value

            def unpatch():
                del builtins.tg_marker

            def clean():
                return builtins.__import__("json"), importlib.__import__("json")
        """
    }
)
guard = install(POLICY)
from app.api.routers import viewed

routes = (
    viewed.attribute,
    viewed.by_getattr,
    viewed.by_vars,
    viewed.by_dict,
    viewed.by_dict_get,
    viewed.from_import,
    viewed.importlib_dunder,
    viewed.import_module_builtins,
    viewed.dunder_builtins_module,
    viewed.exec_with_builtins_module,
)
for state in ("loaded", "first load"):
    for route in routes:
        if state == "first load":
            unload("fakehttp")
        else:
            importlib.import_module("fakehttp")
        err = blocked(route)
        assert (err.importer, err.imported) == ("app.api.routers.viewed", "fakehttp"), (
            state,
            route.__name__,
            err,
        )

# everything else is the real, live module
import json

assert viewed.clean() == (json, json)
view = viewed.builtins
assert isinstance(view, types.ModuleType) and view is not builtins
assert view.__name__ == "builtins" and view.__spec__ is builtins.__spec__
assert view.len is len and view.open is open
assert viewed.length([1, 2]) == 2
original_len = builtins.len
builtins.len = lambda x: 42
try:
    assert viewed.length([1]) == 42 and view.len([]) == 42
finally:
    builtins.len = original_len
assert viewed.length([1]) == 1
names, has_len, listed = viewed.listing()
assert names == sorted(vars(builtins)) and has_len and listed == dir(builtins)
viewed.patch_input("set through the view")
assert builtins.tg_marker == "set through the view"
viewed.unpatch()
assert not hasattr(builtins, "tg_marker")
with mock.patch.object(view, "input", return_value="patched via the view"):
    assert input() == "patched via the view"  # the real builtins were patched
assert builtins.input is not None and not isinstance(builtins.input, mock.Mock)
assert viewed.exec_legit("result = len([1, 2, 3]) + abs(-1)") == 4
assert "import_module" in dir(viewed.importlib) and viewed.importlib.util is importlib.util
assert repr(view).startswith("<taskguard view of <module 'builtins'")

# outside the guarded module nothing changed
assert vars(builtins)["__import__"] is builtins.__import__
guard.uninstall()
assert viewed.attribute().NAME == "fakehttp"  # views stop checking with the guard
done()
