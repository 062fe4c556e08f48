# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""A module shipped as a .pyc only (SourcelessFileLoader) is guarded by the class swap."""

import importlib.machinery
import os
import py_compile

from _support import POLICY, ROOT, blocked, done, write

from taskguard import install

write({"app/api/routers/compiled.py": "def f():\n    import fakehttp\n"})
source = ROOT / "app/api/routers/compiled.py"
py_compile.compile(str(source), cfile=str(source.with_suffix(".pyc")), doraise=True)
os.remove(source)
install(POLICY)
import app.api.routers.compiled as compiled

loader = compiled.__loader__
assert isinstance(loader, importlib.machinery.SourcelessFileLoader)
assert type(loader).__name__ == "_GuardedSourcelessFileLoader"
assert blocked(compiled.f).lineno == 2
done()
