# ruff: noqa: PT018 - a plain script run in a fresh interpreter
"""A hook in front of the guard's finder whose loader calls ``exec`` many frames below
``exec_module`` (loader wrappers nest: an agent around an instrumenter around a reloader),
and one that hands importlib a plain ``SourceFileLoader`` of its own: the module is
guarded all the same (an already-loaded forbidden module, so only its builtins refuse)."""

import importlib.machinery
import importlib.util
import sys

from _support import POLICY, blocked, done, write

from taskguard import install

BODY = """
def lazy():
    import fakehttp
    return fakehttp
"""
write({f"app/api/routers/{name}/__init__.py": BODY for name in ("deep", "plain_source")})


class DeepLoader:
    def __init__(self, path):
        self.path = path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(self.path, encoding="utf-8") as fh:
            code = compile(fh.read(), self.path, "exec")

        def nest(depth):
            if depth:
                nest(depth - 1)
            else:
                exec(code, module.__dict__)

        nest(40)


class FrontFinder:
    def find_spec(self, name, path=None, target=None):
        if name not in ("app.api.routers.deep", "app.api.routers.plain_source"):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        assert spec is not None and spec.origin is not None
        if name.endswith("deep"):
            loader = DeepLoader(spec.origin)
        else:
            loader = importlib.machinery.SourceFileLoader(name, spec.origin)
        return importlib.util.spec_from_file_location(
            name, spec.origin, loader=loader, submodule_search_locations=[]
        )


importlib.import_module("fakehttp")
guard = install(POLICY)
front = FrontFinder()
sys.meta_path.insert(0, front)
for name in ("deep", "plain_source"):
    module = importlib.import_module(f"app.api.routers.{name}")
    assert sys.meta_path[0] is front
    error = blocked(module.lazy)
    assert error.importer == f"app.api.routers.{name}", (name, error.importer)
assert {v.importer for v in guard.violations} == {
    "app.api.routers.deep",
    "app.api.routers.plain_source",
}
sys.meta_path.remove(front)
guard.uninstall()
done()
