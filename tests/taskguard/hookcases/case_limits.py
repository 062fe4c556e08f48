# ruff: noqa: E402, F401, PT017 - a plain script run in a fresh interpreter
"""The documented limits (docs/runtime-guard.md, "Limits"), pinned: what a guarded module
can reach without an import statement or a by-name import function gets through when the
target is already loaded; a first load is still caught where the docs say so. If one of
these starts being blocked, move it out of the Limits section."""

import importlib
import sys

from _support import POLICY, blocked, done, unload, write

from taskguard import install

write(
    {
        "app/api/routers/escapes.py": """
            import sys
            import importlib
            import importlib.machinery
            import importlib.util
            import pickle

            def modules_dict():
                return sys.modules["fakehttp"]

            def builtin_self():
                return len.__self__.__import__("fakehttp")

            def missing_hook():
                return type(__builtins__).__missing__("__import__")("fakehttp")

            def bootstrap():
                return importlib._bootstrap._gcd_import("fakehttp")

            def spec_by_hand():
                spec = importlib.util.find_spec("fakehttp")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module

            def path_finder():
                spec = importlib.machinery.PathFinder.find_spec("fakehttp")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module

            def python_unpickler():
                return pickle._loads(b"cfakehttp\\nNAME\\n.")

            def attribute_chain():
                import fakecloud
                return fakecloud.tasks

            def member_by_attribute():
                import concurrent.futures as futures
                return futures.ProcessPoolExecutor

            def entry_point():
                import importlib.metadata
                return importlib.metadata.EntryPoint("x", "fakehttp:NAME", "g").load()

            def through_a_helper():
                from app.services import loader
                return loader.load("fakehttp")

            def in_another_namespace():
                import json
                import types
                code = compile("import fakehttp as result", "<elsewhere>", "exec")
                namespace = vars(json)
                types.FunctionType(code, namespace)()
                return namespace.pop("result")

            def unbound_dict_method():
                dict.pop(__builtins__, "__import__")
                import json
        """,
        "app/services/http.py": "import fakehttp\nclient = fakehttp\n",
        "app/services/loader.py": """
            import importlib

            def load(name):
                return importlib.import_module(name)
        """,
        "app/api/routers/reexported.py": """
            def through_first_party():
                from app.services.http import client
                return client
        """,
        "app/api/routers/unguard.py": """
            import sys

            def remove_finder():
                for finder in list(sys.meta_path):
                    if type(finder).__name__ == "_GuardFinder":
                        sys.meta_path.remove(finder)

            def lazy():
                import fakehttp

            def bootstrap_first_load():
                import importlib
                return importlib._bootstrap._gcd_import("fakehttp")
        """,
        "app/api/routers/late.py": "import fakehttp\n",
    }
)
guard = install(POLICY)
from app.api.routers import escapes

# already loaded: these reach the module without the guard seeing an import
for escape in (
    escapes.modules_dict,
    escapes.builtin_self,
    escapes.missing_hook,
    escapes.bootstrap,
    escapes.spec_by_hand,
    escapes.path_finder,
    escapes.python_unpickler,
    escapes.entry_point,
    escapes.through_a_helper,
    escapes.in_another_namespace,
):
    importlib.import_module("fakehttp")
    result = escape()
    assert getattr(result, "NAME", result) == "fakehttp", (escape.__name__, result)
assert escapes.attribute_chain().NAME == "fakecloud.tasks"
assert escapes.member_by_attribute().__name__ == "ProcessPoolExecutor"
assert guard.violations == ()

# first loads: the finder's frame check catches all but the hand-made path finder spec
for escape in (
    escapes.builtin_self,
    escapes.missing_hook,
    escapes.bootstrap,
    escapes.spec_by_hand,
    escapes.python_unpickler,
    escapes.entry_point,
):
    unload("fakehttp")
    assert blocked(escape).importer == "app.api.routers.escapes", escape.__name__
unload("fakehttp")
assert escapes.path_finder().NAME == "fakehttp"  # executed without the import system
assert "fakehttp" not in sys.modules
# code that runs as another module (its namespace, or its import function) is that module's
for escape in (escapes.through_a_helper, escapes.in_another_namespace):
    unload("fakehttp")
    assert escape().NAME == "fakehttp", escape.__name__

# a first-party module that is not protected may hand a forbidden module on (TG004, the
# static check's opt-in indirect rule, reports it)
from app.api.routers import reexported

assert reexported.through_first_party().NAME == "fakehttp"

# dict methods called unbound on the module's builtins mapping can remove its guarded
# __import__: before 3.13 the module's imports then fail; 3.13 falls through to the real
# __import__ (already-loaded targets get through, first loads are still caught)
importlib.import_module("fakehttp")
try:
    outcome = escapes.unbound_dict_method()
except ImportError as exc:
    outcome = str(exc)
if sys.version_info >= (3, 13):
    assert outcome is None, outcome
    assert escapes.modules_dict.__globals__["__builtins__"].get("__import__") is __import__
else:
    assert outcome == "__import__ not found", outcome

# code that takes the finder out of sys.meta_path: modules loaded afterwards are still
# guarded (their loader's exec() is watched), those loaded before keep checking, and the
# second line for first loads is gone until install() puts the finder back in front
from app.api.routers import unguard

unguard.remove_finder()
assert guard._finder not in sys.meta_path
try:
    import app.api.routers.late
except ImportError as exc:
    assert exc.importer == "app.api.routers.late", exc
else:
    raise AssertionError("a module loaded without the finder was not guarded")
assert blocked(unguard.lazy).importer == "app.api.routers.unguard"
unload("fakehttp")
assert unguard.bootstrap_first_load().NAME == "fakehttp"  # no finder: no second line
assert install() is guard
assert sys.meta_path[0] is guard._finder
assert sys.meta_path.count(guard._finder) == 1
done()
