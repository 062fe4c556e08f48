# ruff: noqa: PT018 - a plain script run in a fresh interpreter
"""Issue #11, part 1, as an attacker: first-party modules brought by every shape of loader
and by-hand execution the import system allows, with the forbidden target already loaded
(only the module's own builtins can refuse it). Guarded: a legacy ``load_module()``-only
loader in front of the guard, behind it, or found by the finder; ``LazyLoader`` in front
and behind; a loader that execs a
source string itself; a proxy finder wrapping the guard's; ``sys.meta_path`` replaced by a
new list; ``importlib.reload``; ``module_from_spec`` + ``exec_module`` by hand (a spec from
``PathFinder`` or ``spec_from_file_location``) while the guard's finder is first;
``runpy.run_module``. The documented limits (docs/runtime-guard.md): ``runpy.run_path`` of
a first-party file and a ``types.ModuleType`` filled with ``exec`` by hand keep the real
builtins. After ``uninstall()``, ``sys.meta_path`` is restored exactly and modules loaded
later carry no trace."""

import builtins
import importlib
import importlib.machinery
import importlib.util
import runpy
import sys
import types
import warnings

from _support import POLICY, blocked, done, unload, write

from taskguard import install

BODY = "def lazy():\n    import fakehttp\n    return fakehttp\n"
NAMES = (
    "legacy_before",
    "legacy_after",
    "legacy_found",
    "str_exec",
    "proxied",
    "new_list",
    "reloaded",
    "path_spec",
    "file_spec",
    "run_module",
    "run_main",
    "run_path",
    "by_hand",
    "lazy_behind",
    "lazy_front",
    "later",
)
write({f"app/api/routers/{name}.py": BODY for name in NAMES})


class LegacyLoader:
    """The protocol before exec_module(): load_module() makes the module, puts it in
    sys.modules and runs the code itself."""

    def __init__(self, path):
        self.path = path

    def load_module(self, fullname):
        module = types.ModuleType(fullname)
        module.__file__ = self.path
        module.__loader__ = self
        sys.modules[fullname] = module
        with open(self.path, encoding="utf-8") as fh:
            exec(compile(fh.read(), self.path, "exec"), module.__dict__)
        return module


class StrExecLoader(LegacyLoader):
    """exec_module() that execs the source string (compiled by exec itself)."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(self.path, encoding="utf-8") as fh:
            exec(fh.read(), module.__dict__)


class OwnFinder:
    def __init__(self, name, loader_class):
        self.name = name
        self.loader_class = loader_class

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        found = importlib.machinery.PathFinder.find_spec(name, path)
        return importlib.util.spec_from_loader(name, self.loader_class(found.origin))


class LazyFinder:
    """importlib.util.LazyLoader around the path finder's loader: the module runs on first
    attribute access, through the wrapped loader."""

    def __init__(self, name):
        self.name = name

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


class Proxy:
    """A hook that wraps another finder and forwards to it."""

    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        return self.inner.find_spec(name, path, target)


def routers(name):
    return f"app.api.routers.{name}"


def guarded(module_or_function, name, *, builtins_too=True):
    function = module_or_function if callable(module_or_function) else module_or_function.lazy
    error = blocked(function)
    assert (error.importer, error.imported) == (routers(name), "fakehttp"), (name, error)
    assert (function.__builtins__ is not vars(builtins)) is builtins_too, name


def import_quietly(name):
    with warnings.catch_warnings():
        # 3.12+: ImportWarning "...falling back to load_module()" for a legacy loader
        warnings.simplefilter("ignore", ImportWarning)
        return importlib.import_module(routers(name))


pristine = list(sys.meta_path)
sys.meta_path.insert(0, OwnFinder(routers("legacy_before"), LegacyLoader))
guard = install(POLICY)
ROUTERS = importlib.import_module("app.api.routers")
# found by the guard's finder itself: the legacy loader cannot be wrapped
path_index = sys.meta_path.index(importlib.machinery.PathFinder)
sys.meta_path.insert(path_index, OwnFinder(routers("legacy_found"), LegacyLoader))
assert sys.meta_path[0] is guard._finder
guarded(import_quietly("legacy_found"), "legacy_found")
# the guard's finder first: by-hand execution of a first-party spec
spec = importlib.machinery.PathFinder.find_spec(routers("path_spec"), ROUTERS.__path__)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
guarded(module, "path_spec")
spec = importlib.util.spec_from_file_location(
    routers("file_spec"), ROUTERS.__path__[0] + "/file_spec.py"
)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
guarded(module, "file_spec")
guarded(runpy.run_module(routers("run_module"))["lazy"], "run_module")
guarded(runpy.run_module(routers("run_main"), run_name="__main__")["lazy"], "run_main")
guarded(importlib.reload(import_quietly("reloaded")), "reloaded")

path_index = sys.meta_path.index(importlib.machinery.PathFinder)
sys.meta_path.insert(path_index, LazyFinder(routers("lazy_behind")))
guarded(import_quietly("lazy_behind"), "lazy_behind")

# hooks in front of the guard
sys.meta_path.insert(0, LazyFinder(routers("lazy_front")))
guarded(import_quietly("lazy_front"), "lazy_front")
sys.meta_path.insert(0, OwnFinder(routers("legacy_after"), LegacyLoader))
sys.meta_path.insert(0, OwnFinder(routers("str_exec"), StrExecLoader))
guarded(import_quietly("legacy_before"), "legacy_before")
guarded(import_quietly("legacy_after"), "legacy_after")
guarded(import_quietly("str_exec"), "str_exec")
index = sys.meta_path.index(guard._finder)
sys.meta_path[index] = Proxy(guard._finder)
guarded(import_quietly("proxied"), "proxied")
sys.meta_path[index] = guard._finder
sys.meta_path = list(sys.meta_path)  # a new list object, same finders
guarded(import_quietly("new_list"), "new_list")
guarded(importlib.reload(sys.modules[routers("new_list")]), "new_list")

# The documented limits: no import system and no runpy module spec, so nothing names the
# namespace being filled. A module made by hand still has its first-party name, so the
# second line refuses its first loads; run_path's code runs as "<run_path>", not even that.
run_path = runpy.run_path(ROUTERS.__path__[0] + "/run_path.py")
assert run_path["lazy"]().NAME == "fakehttp"
assert run_path["lazy"].__builtins__ is vars(builtins)
unload("fakehttp")
assert run_path["lazy"]().NAME == "fakehttp"
by_hand = types.ModuleType(routers("by_hand"))
exec(BODY, by_hand.__dict__)
assert by_hand.lazy().NAME == "fakehttp"
unload("fakehttp")
guarded(by_hand.lazy, "by_hand", builtins_too=False)
importlib.import_module("fakehttp")

# uninstall: exactly the application's sys.meta_path, and no trace in later modules
expected = [finder for finder in sys.meta_path if finder is not guard._finder]
guard.uninstall()
assert sys.meta_path == expected
later = import_quietly("later")
assert vars(later)["__builtins__"] is vars(builtins) or type(vars(later)["__builtins__"]) is dict
assert later.lazy().NAME == "fakehttp"
assert type(later.__loader__) is importlib.machinery.SourceFileLoader
assert type(later.__spec__.loader) is importlib.machinery.SourceFileLoader
spec = importlib.machinery.PathFinder.find_spec(routers("path_spec"), ROUTERS.__path__)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)  # the audit hook stays, and does nothing
assert type(vars(module)["__builtins__"]) is dict and module.lazy().NAME == "fakehttp"
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, (OwnFinder, LazyFinder))]
assert sys.meta_path == pristine
done()
