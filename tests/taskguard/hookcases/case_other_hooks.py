# ruff: noqa: PT018 - a plain script run in a fresh interpreter
"""First-party modules are guarded whichever finder produced their spec, in any order of
installation: the real typeguard and beartype import hooks, and a hand-written finder with
its own loader class, each installed before and after the guard (an already-loaded
forbidden module, so only the module's own builtins can refuse it). Uninstalling restores
sys.meta_path exactly and leaves no trace in modules loaded afterwards."""

import importlib.util
import sys

from _support import POLICY, blocked, done, needs, write

from taskguard import install

typeguard = needs("typeguard")
claw = needs("beartype.claw")

BODY = """
def lazy():
    import fakehttp
    return fakehttp

def typed(x: int) -> int:
    return x
"""
NAMES = ("tg_before", "tg_after", "bt_before", "bt_after", "own_before", "own_after", "later")
write({f"app/api/routers/{name}/__init__.py": BODY for name in NAMES})


class OwnLoader:
    """A loader of its own (no importlib base class) that runs the code with exec()."""

    def __init__(self, path):
        self.path = path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(self.path, encoding="utf-8") as fh:
            code = compile(fh.read(), self.path, "exec")
        module.__dict__["loaded_by"] = "OwnLoader"
        exec(code, module.__dict__)


class OwnFinder:
    def __init__(self, prefix):
        self.prefix = prefix

    def find_spec(self, name, path=None, target=None):
        if name != self.prefix:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        assert spec is not None and spec.origin is not None
        loader = OwnLoader(spec.origin)
        return importlib.util.spec_from_file_location(
            name, spec.origin, loader=loader, submodule_search_locations=[]
        )


def real_builtins(module):
    return type(vars(module)["__builtins__"]) is dict


def check(name, *, instrumented):
    module = importlib.import_module(f"app.api.routers.{name}")
    error = blocked(module.lazy)
    assert error.importer == f"app.api.routers.{name}", (name, error.importer)
    assert not real_builtins(module), name
    if instrumented is not None:
        try:
            module.typed("not an int")
        except instrumented:
            pass
        else:
            raise AssertionError(f"{name}: the other hook did not instrument the module")
    return module


pristine = list(sys.meta_path)

# --- installed before the guard
tg_before = typeguard.install_import_hook("app.api.routers.tg_before")
claw.beartype_package("app.api.routers.bt_before")
own_before = OwnFinder("app.api.routers.own_before")
sys.meta_path.insert(0, own_before)
before = list(sys.meta_path)

guard = install(POLICY)
assert sys.meta_path[0] is guard._finder and sys.meta_path[1:] == before

# --- installed after the guard, in front of it
tg_after = typeguard.install_import_hook("app.api.routers.tg_after")
claw.beartype_package("app.api.routers.bt_after")
own_after = OwnFinder("app.api.routers.own_after")
sys.meta_path.insert(0, own_after)
assert sys.meta_path[0] is own_after and sys.meta_path[1] is not guard._finder

check("tg_before", instrumented=typeguard.TypeCheckError)
check("tg_after", instrumented=typeguard.TypeCheckError)
beartype_violation = needs("beartype.roar").BeartypeCallHintViolation
check("bt_before", instrumented=beartype_violation)
check("bt_after", instrumented=beartype_violation)
assert check("own_before", instrumented=None).loaded_by == "OwnLoader"
own = check("own_after", instrumented=None)
assert own.loaded_by == "OwnLoader" and type(own.__loader__) is OwnLoader
assert {v.importer for v in guard.violations} == {f"app.api.routers.{n}" for n in NAMES[:-1]}

# --- uninstall: sys.meta_path exactly as the application left it, no trace later on
expected = [finder for finder in sys.meta_path if finder is not guard._finder]
guard.uninstall()
assert sys.meta_path == expected, (sys.meta_path, expected)
later = importlib.import_module("app.api.routers.later")
assert real_builtins(later) and later.lazy().NAME == "fakehttp"
assert "_taskguard" not in repr(later.__loader__) and "taskguard" not in repr(later.__spec__)
tg_before.uninstall()
tg_after.uninstall()
sys.meta_path.remove(own_before)
sys.meta_path.remove(own_after)
assert sys.meta_path == pristine
done()
