# ruff: noqa: E402, PT018 - a plain script run in a fresh interpreter
"""Modules imported from a zip archive are guarded through the delegating loader."""

import importlib.resources
import inspect
import sys
import zipfile
import zipimport

from _support import ROOT, blocked, done, import_blocked, make_policy

from taskguard import install

archive = ROOT / "bundle.zip"
with zipfile.ZipFile(archive, "w") as bundle:
    bundle.writestr("zapp/__init__.py", "")
    bundle.writestr("zapp/data.txt", "zipped data")
    bundle.writestr("zapp/api/__init__.py", "")
    bundle.writestr("zapp/api/routers/__init__.py", "")
    bundle.writestr("zapp/api/routers/views.py", "import fakehttp\n")
    bundle.writestr("zapp/api/routers/ok.py", "import json\n\ndef f():\n    import fakehttp\n")
sys.path.insert(0, str(archive))
install(make_policy(root_packages=("zapp",), protected=("zapp.api.routers",)))

err = import_blocked("zapp.api.routers.views")
assert err.importer == "zapp.api.routers.views" and err.lineno == 1
from zapp.api.routers import ok

assert blocked(ok.f).lineno == 4
loader = ok.__loader__
assert type(loader).__name__ == "_DelegatingLoader", type(loader)
assert isinstance(loader._taskguard_inner, zipimport.zipimporter)
assert loader.archive == str(archive)  # other attributes are the zipimporter's
assert inspect.getsource(ok.f).startswith("def f():")

assert importlib.resources.files("zapp").joinpath("data.txt").read_text() == "zipped data"
done()
