# ruff: noqa: E402, PT017, PT018 - a plain script run in a fresh interpreter
"""install() is idempotent, uninstall() restores sys.meta_path exactly, modules imported
before install are named, and taskguard never guards or names itself."""

import sys
import warnings

from _support import POLICY, blocked, done, make_policy, write

import taskguard
from taskguard import PolicyError, TaskguardError, UnguardedModuleWarning, install, uninstall
from taskguard._hook import active_guard

write({"app/api/routers/x.py": "def f():\n    import fakehttp\n    return fakehttp\n"})
import app.services  # noqa: F401 - first-party, imported before install

before = list(sys.meta_path)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    guard = install(make_policy(root_packages=("app", "taskguard")))
assert [w.category for w in caught] == [UnguardedModuleWarning], caught
assert caught[0].message.modules == ("app", "app.services"), caught[0].message.modules
assert "app, app.services" in str(caught[0].message)
assert caught[0].filename == __file__  # attributed to the caller of install()
assert guard.unguarded == ("app", "app.services")
assert "taskguard" in sys.modules  # imported, yet never named: it is the guard itself

assert sys.meta_path[1:] == before and type(sys.meta_path[0]).__name__ == "_GuardFinder"
assert install() is guard and taskguard.install(guard.policy) is guard
assert len(sys.meta_path) == len(before) + 1
for conflicting in (
    lambda: install(make_policy(protected=("app.other",))),
    lambda: install(guard.policy, mode="warn"),
):
    try:
        conflicting()
    except TaskguardError as exc:
        assert "already installed" in str(exc)
    else:
        raise AssertionError("a conflicting install() was accepted")
assert guard.installed and active_guard() is guard

import app.api.routers.x as x

blocked(x.f)
import taskguard._run

assert type(vars(taskguard._run)["__builtins__"]).__name__ != "_GuardedBuiltins"
assert not guard._guardable("taskguard") and not guard._guardable("taskguard._hook")
assert guard._guardable("app.api") and not guard._guardable("json")

guard.uninstall()
assert sys.meta_path == before
assert not guard.installed and active_guard() is None
assert x.f().NAME == "fakehttp"  # guarded modules stop checking once uninstalled
guard.uninstall()  # a second uninstall is harmless
uninstall()
assert len(guard.violations) == 1  # the record survives uninstall

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    again = install(POLICY)
assert [w.message.modules for w in caught] == [("app", "app.services")]
with again:
    assert again is not guard and again.installed
    assert again.unguarded == ("app", "app.services")
    # x was guarded under the first guard; it consults whichever guard is active now
    assert blocked(x.f).importer == "app.api.routers.x"
assert sys.meta_path == before and active_guard() is None

# What a guard remembered as clean is forgotten with it: a from-import made (three times,
# so the fast path has it) under a guard that allows it is checked again under the next one.
write({"app/api/routers/y.py": "def g():\n    from fakehttp import NAME\n    return NAME\n"})
with install(make_policy(forbidden_in_protected=("requests",))):
    import app.api.routers.y as y

    assert y.g() == y.g() == y.g() == "fakehttp"
with install(POLICY):
    assert blocked(y.g).imported == "fakehttp"
    assert blocked(y.g).imported == "fakehttp"  # and refused again, not remembered

try:
    install(POLICY, mode="loud")
except PolicyError as exc:
    assert "mode" in str(exc)
else:
    raise AssertionError("mode='loud' was accepted")
assert sys.meta_path == before
done()
