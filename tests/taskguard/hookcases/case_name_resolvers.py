# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""Standard-library helpers that import by name on behalf of protected code are seen
through (first loads): pkgutil.resolve_name, runpy.run_module, importlib.util.find_spec.
A third-party library's own lazy import is not blamed on its caller."""

import sys

from _support import POLICY, blocked, done, unload, write

from taskguard import ForbiddenImportError, install

write(
    {
        "app/api/routers/resolve.py": """
            import pkgutil
            import runpy
            import importlib.util

            def by_resolve_name():
                return pkgutil.resolve_name("fakehttp:NAME")

            def by_resolve_name_dotted():
                return pkgutil.resolve_name("fakehttp.sub.NAME")

            def by_runpy():
                return runpy.run_module("fakehttp.sub")

            def by_find_spec():
                return importlib.util.find_spec("fakehttp.sub")

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


def blocked_via_runpy(call):
    # runpy re-raises import failures as a plain ImportError, chained to the guard's error
    try:
        call()
    except ImportError as exc:
        cause = exc.__cause__
    else:
        raise AssertionError("runpy.run_module was not blocked")
    if not isinstance(cause, ForbiddenImportError):
        raise AssertionError(f"not the guard's error: {cause!r}")
    return cause


for call, line in (
    (r.by_resolve_name, 6),
    (r.by_resolve_name_dotted, 9),
    (r.by_runpy, 12),
    (r.by_find_spec, 15),
):
    unload("fakehttp")
    err = blocked_via_runpy(call) if call is r.by_runpy else blocked(call)
    assert (err.importer, err.imported, err.lineno) == (
        "app.api.routers.resolve",
        "fakehttp",
        line,
    ), (call.__name__, err.importer, err.imported, err.lineno)
    assert "fakehttp" not in sys.modules

# the library's own import is the library's business, not the router's
unload("fakehttp")
assert r.through_a_library() == "fakehttp"
assert [v.line for v in guard.violations] == [6, 9, 12, 15]
done()
