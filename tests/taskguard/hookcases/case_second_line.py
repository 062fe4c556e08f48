# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""The find_spec frame check catches first loads the builtins cannot see."""

import importlib.util
import sys

from _support import POLICY, ROOT, blocked, done, unload, write

from taskguard import install

write(
    {
        "app/api/routers/loose.py": "import fakehttp\n",
        "app/api/routers/early.py": "def job():\n    import fakehttp\n    return fakehttp\n",
        "app/services/plain.py": "def job():\n    import fakehttp\n    return fakehttp\n",
    }
)
unload("fakehttp")
import warnings

import app.api.routers.early as early
import app.services.plain as plain

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    guard = install(POLICY)
assert "app.api.routers.early" in guard.unguarded

# 1. a module executed without the finder (spec_from_file_location + exec_module)
spec = importlib.util.spec_from_file_location(
    "app.api.routers.loose", ROOT / "app/api/routers/loose.py"
)
loose = importlib.util.module_from_spec(spec)
assert type(spec.loader).__name__ == "SourceFileLoader"
err = blocked(lambda: spec.loader.exec_module(loose))
assert (err.importer, err.imported, err.lineno) == ("app.api.routers.loose", "fakehttp", 1)
assert "fakehttp" not in sys.modules

# 2. a module imported before install, importing lazily for the first time
err = blocked(early.job)
assert (err.importer, err.lineno) == ("app.api.routers.early", 2)

# an unprotected module may import it; after that the target is loaded and the second
# line (first loads only) no longer sees the unguarded module: the documented limit
assert plain.job().NAME == "fakehttp"
assert early.job().NAME == "fakehttp"
done()
