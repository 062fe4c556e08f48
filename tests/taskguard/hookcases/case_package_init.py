"""A package's __init__ is guarded like any module."""

import sys

from _support import POLICY, done, import_blocked, write

from taskguard import install

write(
    {
        "app/api/routers/__init__.py": "from . import views\nimport fakehttp\n",
        "app/api/routers/views.py": "def lazy():\n    import fakehttp\n",
    }
)
install(POLICY)
err = import_blocked("app.api.routers")
assert (err.importer, err.imported, err.lineno) == ("app.api.routers", "fakehttp", 2)
assert "app.api.routers" not in sys.modules
views = sys.modules["app.api.routers.views"]
assert type(views.__builtins__).__name__ == "_GuardedBuiltins"
assert type(sys.modules["app"].__builtins__).__name__ == "_GuardedBuiltins"
done()
