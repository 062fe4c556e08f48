"""The pytest plugin with real pytest-django on this interpreter: a plugin registered after
taskguard calls django.setup() in a tryfirst pytest_load_initial_conftests, which imports
the project's apps; the guard is installed already (at taskguard's registration), so a
view's lazy import of a loaded forbidden module fails its test with the guard's message.
(tests/taskguard/test_plugin_early.py covers the same in depth on the running interpreter.)"""

import os
import subprocess
import sys

from _django_project import DJANGO_FIRST, FILES, PYPROJECT
from _support import ROOT, done, needs, write

needs("pytest")
needs("pytest_django")
needs("django")

write(
    {
        "pyproject.toml": PYPROJECT,
        **FILES,
        "djangofirst.py": DJANGO_FIRST,
        "tests/test_views.py": """
            from shop import views

            def test_guarded():
                assert type(vars(views)["__builtins__"]).__name__ == "_GuardedBuiltins"

            def test_refresh(rf):
                views.refresh(rf.get("/"))
        """,
    }
)
env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
plugins = ["-p", "taskguard.pytest_plugin", "-p", "pytest_django.plugin", "-p", "djangofirst"]
proc = subprocess.run(
    [sys.executable, "-m", "pytest", *plugins, "-rA"],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
)
out = proc.stdout
assert proc.returncode == 1, out + proc.stderr
for line in (
    "PASSED tests/test_views.py::test_guarded",
    "FAILED tests/test_views.py::test_refresh",
    "ForbiddenImportError: TG002: shop.views may not import fakehttp at ",
):
    assert line in out, (line, out)
assert "imported before the guard" not in out, out
done()
