# ruff: noqa: E402, PT018 - a plain script run in a fresh interpreter
"""The target is already in sys.modules: module-level imports are still blocked."""

import http.client  # noqa: F401 - loaded before install on purpose
import importlib
import sys

from _support import POLICY, done, import_blocked, write

from taskguard import install

importlib.import_module("fakehttp")  # loaded before install on purpose
write(
    {
        "app/api/routers/top.py": "import fakehttp\n",
        "app/api/routers/std.py": "import json\nimport http.client\n",
        "app/services/free.py": "import fakehttp\nimport http.client\n",
    }
)
guard = install(POLICY)
assert "fakehttp" in sys.modules and "http.client" in sys.modules

err = import_blocked("app.api.routers.top")
assert (err.importer, err.imported, err.code) == ("app.api.routers.top", "fakehttp", "TG002")
assert err.filename.endswith("top.py") and err.lineno == 1, (err.filename, err.lineno)
assert "app.api.routers.top" not in sys.modules

err = import_blocked("app.api.routers.std")
assert (err.imported, err.lineno) == ("http.client", 2)

import app.services.free

assert app.services.free.fakehttp is sys.modules["fakehttp"]
assert [(v.importer, v.imported) for v in guard.violations] == [
    ("app.api.routers.top", "fakehttp"),
    ("app.api.routers.std", "http.client"),
]
done()
