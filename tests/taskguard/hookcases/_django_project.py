"""A small Django project, shared by ``case_pytest_django`` (on every interpreter) and
``test_plugin_early`` (on the running one, in depth).

Its app's ``ready()`` imports the views, so ``django.setup()`` imports them; a view imports
the forbidden ``fakehttp`` lazily (``refresh``, at views.py:4), another swallows the refusal
(``refresh_or_fallback``, at views.py:9). ``DJANGO_FIRST`` is a plugin whose tryfirst
``pytest_load_initial_conftests`` calls ``django.setup()``: registered after taskguard, it
runs before taskguard's own hook.
"""

PYPROJECT = """\
[tool.taskguard]
root-packages = ["shop", "proj"]
protected = ["shop"]
forbidden-in-protected = ["fakehttp"]

[tool.pytest.ini_options]
DJANGO_SETTINGS_MODULE = "proj.settings"
pythonpath = ["."]
addopts = ["--strict-markers", "--strict-config", "-p", "no:cacheprovider"]
filterwarnings = ["error"]
taskguard_check = false
"""

FILES = {
    "proj/__init__.py": "",
    "proj/settings.py": """\
SECRET_KEY = "test-only"
INSTALLED_APPS = ["shop.apps.ShopConfig"]
DATABASES = {}
USE_TZ = True
""",
    "shop/__init__.py": "",
    "shop/apps.py": """\
from django.apps import AppConfig

class ShopConfig(AppConfig):
    name = "shop"

    def ready(self):
        from shop import views  # imported by django.setup(), before any conftest
""",
    "shop/views.py": """\
from django.http import HttpResponse

def refresh(request):
    import fakehttp  # lazy: runs when the view does
    return HttpResponse(fakehttp.NAME)

def refresh_or_fallback(request):
    try:
        import fakehttp
    except ImportError:
        return HttpResponse("fallback")
    return HttpResponse(fakehttp.NAME)
""",
    # Loaded already when the view runs: only the view's own builtins refuse it.
    "conftest.py": "import fakehttp\n",
}

DJANGO_FIRST = """\
import os

import django
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
    django.setup()
"""
