# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""The guard composes with an instrumenting import hook placed in front of it, gets back
to sys.meta_path[0], and never recurses into itself."""

import importlib.machinery
import sys

from _support import POLICY, blocked, done, write

from taskguard import install

instrumented = []


class InstrumentingLoader(importlib.machinery.SourceFileLoader):
    def source_to_code(self, data, path, *, _optimize=-1):
        instrumented.append(path)
        return super().source_to_code(data, path)


class InstrumentingFinder:
    """Like typeguard's and beartype's hooks: rewrites first-party modules."""

    def find_spec(self, name, path=None, target=None):
        if not name.startswith("app."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = InstrumentingLoader(spec.loader.name, spec.loader.path)
        return spec


write({"app/api/routers/inst.py": "def f():\n    import fakehttp\n"})
guard = install(POLICY)
sys.meta_path.insert(0, InstrumentingFinder())
guard._ensure_first()
assert sys.meta_path[0] is guard._finder
assert isinstance(sys.meta_path[1], InstrumentingFinder)
sys.meta_path.append(guard._finder)  # a stale duplicate later on must not be re-entered

import app.api.routers.inst as inst

assert any(path.endswith("inst.py") for path in instrumented), instrumented
assert type(inst.__loader__).__name__ == "_DelegatingLoader"
assert isinstance(inst.__loader__._taskguard_inner, InstrumentingLoader)
assert inst.__loader__.get_filename("app.api.routers.inst").endswith("inst.py")
assert blocked(inst.f).importer == "app.api.routers.inst"
guard.uninstall()
assert guard._finder not in sys.meta_path
done()
