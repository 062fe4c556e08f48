# ruff: noqa: E402, PT018 - a plain script run in a fresh interpreter
"""The guard is a package of modules, and its state is bound in one of them: installing and
uninstalling is seen by every module that reads the active guard (a module holding its own
copy of it would go on guarding, or stop, on its own), and a blocked import still shows one
guard frame, the guarded ``__import__``."""

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path

from _support import POLICY, blocked, done, make_policy, write

import taskguard._hook as hook
from taskguard._hook import importing

modules = {
    info.name: importlib.import_module(f"taskguard._hook.{info.name}")
    for info in pkgutil.iter_modules(hook.__path__)
}
assert {"importing", "finder", "loaders", "adopt", "guard", "api"} <= set(modules), modules
holders = sorted(name for name, module in modules.items() if "_active" in vars(module))
assert holders == ["importing"], holders  # the others read importing._active, live
assert "_active" not in vars(hook) and hook._active is None

write(
    {
        "app/api/routers/lazy.py": "def f():\n    import fakehttp\n    return fakehttp\n",
        "app/api/routers/later.py": "def f():\n    import fakehttp\n    return fakehttp\n",
    }
)

first = hook.install(POLICY)
assert importing._active is first and hook._active is first and hook.active_guard() is first
import app.api.routers.lazy as lazy  # through the finder and a guarded loader

error = blocked(lazy.f)
package = Path(hook.__file__).parent
ours = [
    frame
    for frame in traceback.extract_tb(error.__traceback__)
    if Path(frame.filename).parent == package
]
assert [(Path(f.filename).name, f.name) for f in ours] == [("importing.py", "__import__")], ours
assert error.filename is not None and error.filename.endswith("lazy.py")

first.uninstall()
assert importing._active is None and hook._active is None and not first.installed
assert not importing._verified and not importing._free and not importing._clean_names
assert lazy.f().NAME == "fakehttp"  # the guarded module sees no guard
# The old finder answers nothing once its guard is not the active one.
assert first._finder.find_spec("app.api.routers.later") is None

second = hook.install(make_policy(forbidden_in_protected=("fakehttp",)))
assert importing._active is second and second.installed and not first.installed
import app.api.routers.later as later  # loaded under the second guard only

assert type(vars(later)["__builtins__"]).__name__ == "_GuardedBuiltins"
assert blocked(later.f).importer == "app.api.routers.later"
assert blocked(lazy.f).importer == "app.api.routers.lazy"  # guarded under the first
assert [v.importer for v in second.violations] == [
    "app.api.routers.later",
    "app.api.routers.lazy",
]
assert len(first.violations) == 1  # the first guard records nothing more
hook.uninstall()
assert hook.active_guard() is None and sys.modules["taskguard._hook"]._active is None

done()
