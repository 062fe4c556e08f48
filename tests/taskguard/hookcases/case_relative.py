# ruff: noqa: E402, PT017 - a plain script run in a fresh interpreter
"""Relative imports are resolved exactly as importlib resolves them."""

import importlib
import warnings

from _support import done, import_blocked, make_policy, write

from taskguard import UnguardedModuleWarning, install

write(
    {
        "app/api/legacy.py": "THING = 1\n",
        "app/api/routers/helpers.py": "X = 1\n",
        "app/api/routers/rel_ok.py": "from . import helpers\nfrom .helpers import X\n",
        "app/api/routers/rel_from.py": "from ..legacy import THING\n",
        "app/api/routers/rel_pkg.py": "from .. import legacy\n",
        "app/api/routers/deep/__init__.py": "from ... import legacy\n",
        "app/api/routers/beyond.py": "from .... import nothing\n",
    }
)
importlib.import_module("app.api.legacy")  # loaded first: only the builtins can see it
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UnguardedModuleWarning)
    install(make_policy(forbidden_in_protected=("fakehttp", "app.api.legacy")))
import app.api.routers.rel_ok as ok

assert ok.X == 1

for name in ("rel_from", "rel_pkg", "deep"):
    err = import_blocked(f"app.api.routers.{name}")
    assert err.imported == "app.api.legacy", (name, err.imported)
    assert err.importer == f"app.api.routers.{name}", err.importer

# beyond the top-level package: importlib's own error, not a guard error
try:
    import app.api.routers.beyond  # noqa: F401
except ImportError as exc:
    assert type(exc) is ImportError, type(exc)
    assert "beyond top-level package" in str(exc), exc
else:
    raise AssertionError("relative import beyond the top-level package succeeded")
done()
