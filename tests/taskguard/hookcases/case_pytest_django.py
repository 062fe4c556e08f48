"""The pytest plugin with real pytest-django on this interpreter: a plugin registered after
taskguard calls django.setup() in a tryfirst pytest_load_initial_conftests, which imports
the project's apps; the guard is installed already (at taskguard's registration), so a
view's lazy import of a loaded forbidden module fails its test with the guard's message.
(tests/taskguard/test_plugin_early.py covers the same in depth on the running interpreter.)"""

import os
import subprocess
import sys

from _support import ROOT, done, needs, write

needs("pytest")
needs("pytest_django")
needs("django")

write(
    {
        "pyproject.toml": """
            [tool.taskguard]
            root-packages = ["shop", "proj"]
            protected = ["shop"]
            forbidden-in-protected = ["fakehttp"]

            [tool.pytest.ini_options]
            DJANGO_SETTINGS_MODULE = "proj.settings"
            addopts = ["--strict-markers", "--strict-config", "-p", "no:cacheprovider"]
            filterwarnings = ["error"]
            taskguard_check = false
        """,
        "proj/__init__.py": "",
        "proj/settings.py": """
            SECRET_KEY = "test-only"
            INSTALLED_APPS = ["shop.apps.ShopConfig"]
            DATABASES = {}
            USE_TZ = True
        """,
        "shop/__init__.py": "",
        "shop/apps.py": """
            from django.apps import AppConfig

            class ShopConfig(AppConfig):
                name = "shop"

                def ready(self):
                    from shop import views  # imported by django.setup()
        """,
        "shop/views.py": """
            from django.http import HttpResponse

            def refresh(request):
                import fakehttp
                return HttpResponse(fakehttp.NAME)
        """,
        "djangofirst.py": """
            import os

            import django
            import pytest

            @pytest.hookimpl(tryfirst=True)
            def pytest_load_initial_conftests(early_config):
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
                django.setup()
        """,
        "conftest.py": "import fakehttp  # loaded: only the view's own builtins refuse it\n",
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
