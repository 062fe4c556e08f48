"""A hook that wraps every finder of ``sys.meta_path`` (the guard's included) in a proxy of
its own, as some instrumentation does: first-party imports still work (the guard's finder,
no longer on sys.meta_path itself, asked every finder, so its own wrapper, and recursed
without end) and are guarded; after uninstall, nothing is checked."""

import importlib
import sys

from _support import POLICY, blocked, done, write

from taskguard import install

BODY = """
def lazy():
    import fakehttp
    return fakehttp
"""
write({f"app/api/routers/{name}.py": BODY for name in ("wrapped", "later")})


class Proxy:
    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        find_spec = getattr(self.inner, "find_spec", None)
        return None if find_spec is None else find_spec(name, path, target)

    def invalidate_caches(self):
        invalidate = getattr(self.inner, "invalidate_caches", None)
        if invalidate is not None:
            invalidate()


importlib.import_module("fakehttp")
pristine = list(sys.meta_path)
guard = install(POLICY)
sys.meta_path[:] = [Proxy(finder) for finder in sys.meta_path]
module = importlib.import_module("app.api.routers.wrapped")
error = blocked(module.lazy)
assert error.importer == "app.api.routers.wrapped", error.importer
guard.uninstall()
later = importlib.import_module("app.api.routers.later")
assert later.lazy().NAME == "fakehttp"
sys.meta_path[:] = pristine
done()
