"""A hook that wraps every finder of ``sys.meta_path`` (the guard's included) in a proxy of
its own, as some instrumentation does: first-party imports still work (the guard's finder,
no longer on sys.meta_path itself, asked every finder, so its own wrapper, and recursed
without end) and are guarded; after uninstall, nothing is checked. A proxy that compares
equal to the guard's finder is never taken for it."""

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


class EqualProxy(Proxy):
    """Compares equal to what it wraps, as wrapt.ObjectProxy does."""

    def __eq__(self, other):
        return other is self or self.inner == other

    __hash__ = object.__hash__


# Putting the finder back in front and uninstalling take out the guard's own finder, never
# a proxy that only compares equal to it (list.remove() compares with ==).
guard = install(POLICY)
proxy = EqualProxy(guard._finder)
sys.meta_path.insert(0, proxy)
assert install(POLICY) is guard  # puts the finder back in front
assert sys.meta_path[0] is guard._finder
assert sys.meta_path[1] is proxy
expected = [finder for finder in sys.meta_path if finder is not guard._finder]
guard.uninstall()
assert len(sys.meta_path) == len(expected)
assert all(a is b for a, b in zip(sys.meta_path, expected, strict=True)), sys.meta_path
sys.meta_path.remove(proxy)
assert sys.meta_path == pristine
done()
