"""The speed paths of the finder and of the guarded ``__import__`` give what the import
system gives, and let nothing through.

The finder skips the standard built-in and frozen finders for names their C tables do not
hold: a first-party root that is a built-in or a frozen module is still found by them, and
a patched ``find_spec`` of either is still asked. The guarded ``__import__`` returns a
loaded module itself for ``from x import y`` of a name no module can be refused: a module
that defines ``__getattr__`` sees the same calls as without the guard, a package item not
bound yet is imported (and guarded), a module subclass (even one whose ``__class__`` lies),
an object without ``__spec__`` or a module whose spec is initialising go through the import
system, a patched ``builtins.__import__`` is still called, and none of it opens a way to a
forbidden name (a sys.modules entry of a free name bound to a forbidden module is a star
import's target in case_free_names). That every fast path leaves a module whose spec is
initialising to the import system, and only such, is seen through importlib's own module
lock."""

import builtins
import importlib
import importlib.machinery
import importlib.util
import sys
import types
import warnings

from _support import POLICY, ROOT, blocked, done, make_policy, unload, write

from taskguard import UnguardedModuleWarning, install

# The later installs find the modules of the earlier ones: not what this case is about.
warnings.simplefilter("ignore", UnguardedModuleWarning)

write(
    {
        "app/services/lazyattr.py": """
            CALLS = []

            def __getattr__(name):
                CALLS.append(name)
                raise AttributeError(name)
        """,
        "app/api/routers/pkg/__init__.py": "BOUND = 1\n",
        "app/api/routers/pkg/later.py": "def later():\n    import fakehttp\n",
        "app/api/routers/fast.py": """
            def from_lazyattr():
                from app.services import lazyattr
                from app.services.lazyattr import CALLS
                return CALLS

            def from_pkg_bound():
                from app.api.routers.pkg import BOUND
                return BOUND

            def from_pkg_later():
                from app.api.routers.pkg import later
                return later

            def from_subclass():
                from app.services.sub import NAME
                return NAME

            def from_object():
                from freeobject import NAME
                return NAME

            def import_object():
                import freeobject
                return freeobject

            def from_lying_package():
                from lyingpkg import sub
                return sub.NAME

            def forbidden():
                from fakehttp import NAME
                return NAME
        """,
        "lyingpkg/sub.py": "NAME = 'lyingpkg.sub'\n",
    }
)


def run(call):
    return [call() for _ in range(3)]  # a first run, and the identity-cached forms


# What the import system does without the guard, then the same under it.
class Subclassed(types.ModuleType):
    NAME = "subclassed"


sys.modules["app.services.sub"] = Subclassed("app.services.sub")


class LyingPackage(types.ModuleType):
    """A package by a class attribute, that claims to be a plain module."""

    __path__ = (str(ROOT / "lyingpkg"),)

    @property  # type: ignore[misc]
    def __class__(self):
        return types.ModuleType


sys.modules["lyingpkg"] = LyingPackage("lyingpkg")
freeobject = types.SimpleNamespace(NAME="free object")  # no __spec__ at all
sys.modules["freeobject"] = freeobject
plain = importlib.import_module("app.api.routers.fast")
unguarded_calls = list(run(plain.from_lazyattr)[-1])
assert unguarded_calls, "the import system asks a module's __getattr__ for __path__"
del sys.modules["app.api.routers.fast"]
sys.modules["app.services.lazyattr"].CALLS.clear()

guard = install(POLICY)
fast = importlib.import_module("app.api.routers.fast")
assert type(fast.__builtins__).__name__ == "_GuardedBuiltins"
assert run(fast.from_lazyattr)[-1] == unguarded_calls
assert run(fast.from_pkg_bound) == [1, 1, 1]
later = run(fast.from_pkg_later)[0]
assert blocked(later.later).imported == "fakehttp", "an item imported by from-import is guarded"
assert run(fast.from_subclass) == ["subclassed"] * 3
assert fast.from_lying_package() == "lyingpkg.sub", "its submodule is imported, as unguarded"
assert run(fast.from_object) == ["free object"] * 3
assert run(fast.import_object) == [freeobject] * 3
assert blocked(fast.forbidden).imported == "fakehttp"

# A patched builtins.__import__ is called by the fast paths too.
seen = []
real_import = builtins.__import__


def spy(name, *args, **kwargs):
    seen.append(name)
    return real_import(name, *args, **kwargs)


builtins.__import__ = spy
try:
    assert run(fast.from_pkg_bound) == [1, 1, 1]
    assert run(fast.import_object) == [freeobject] * 3
finally:
    builtins.__import__ = real_import
assert seen == ["app.api.routers.pkg"] * 3 + ["freeobject"] * 3, seen

# A module whose spec says it is initialising (another thread is executing it) is left to
# the import system, which waits for it; here, its own thread, it returns it at once.
spec = sys.modules["app.api.routers.pkg"].__spec__
spec._initializing = True
try:
    assert run(fast.from_pkg_bound) == [1, 1, 1]
finally:
    spec._initializing = False

# Seen from the import system: it takes a module's lock (importlib's _lock_unlock_module,
# called from C) exactly when the module's spec says it is initialising. Every fast path
# (`import x`, `import x.y`, `from x import y`) leaves such a module to it, and only such.
write({"initmod/__init__.py": "NAME = 'initmod'\n", "initmod/sub.py": ""})
write(
    {
        "app/api/routers/initialising.py": """
            def plain():
                import initmod
                return initmod

            def dotted():
                import initmod.sub
                return initmod

            def from_import():
                from initmod import NAME
                return NAME
        """
    }
)
initialising = importlib.import_module("app.api.routers.initialising")
bootstrap = sys.modules["_frozen_importlib"]
locked = []
real_lock_unlock = bootstrap._lock_unlock_module


def lock_unlock_spy(name):
    locked.append(name)
    return real_lock_unlock(name)


calls = [initialising.plain, initialising.dotted, initialising.from_import]
for call in calls:
    run(call)  # loaded, every form learnt
bootstrap._lock_unlock_module = lock_unlock_spy
try:
    for call in calls:
        run(call)
    assert locked == [], locked
    for busy in ("initmod", "initmod.sub"):
        sys.modules[busy].__spec__._initializing = True
        try:
            for call in calls:
                locked.clear()
                result = call()
                assert result in (sys.modules["initmod"], "initmod"), result
                touches = busy == "initmod" or call is initialising.dotted
                assert (busy in locked) is touches, (busy, call.__name__, locked)
        finally:
            sys.modules[busy].__spec__._initializing = False
finally:
    bootstrap._lock_unlock_module = real_lock_unlock
guard.uninstall()

# Root packages that are a built-in and a frozen module: found by the standard finders the
# guard's finder skips for every other name, and guarded.
builtin_name = next(
    name
    for name in sorted(sys.builtin_module_names)
    if name not in sys.modules and name.isidentifier() and name not in ("sys", "builtins")
)
frozen_name = "__phello__"
with install(make_policy(root_packages=("app", builtin_name, frozen_name))):
    module = importlib.import_module(builtin_name)
    assert module.__spec__.origin == "built-in", module.__spec__
    assert module.__spec__.loader is not importlib.machinery.BuiltinImporter
    frozen = importlib.import_module(frozen_name)
    assert frozen.__spec__.origin == "frozen", frozen.__spec__
    assert type(frozen.__builtins__).__name__ == "_GuardedBuiltins"

# A patched find_spec of either standard finder is still asked, whatever the name.
write({"elsewhere/magic.py": "ORIGIN = 'patched finder'\n"})
asked = []
for finder_class in (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter):
    original = finder_class.__dict__["find_spec"]

    def patched(cls, fullname, path=None, target=None, _original=original):
        asked.append((cls.__name__, fullname))
        if fullname == "app.magic":
            return importlib.util.spec_from_file_location(fullname, "elsewhere/magic.py")
        return _original.__func__(cls, fullname, path, target)

    finder_class.find_spec = classmethod(patched)
    try:
        with install(POLICY):
            unload("app.magic")
            magic = importlib.import_module("app.magic")
            assert magic.ORIGIN == "patched finder"
            assert type(magic.__builtins__).__name__ == "_GuardedBuiltins"
    finally:
        finder_class.find_spec = original
    assert (finder_class.__name__, "app.magic") in asked, asked

# The same with a patch that is no method at all (a staticmethod: no __func__ to compare).
for finder_class in (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter):
    original = finder_class.__dict__["find_spec"]
    asked.clear()

    def plain_function(fullname, path=None, target=None, _original=original, _cls=finder_class):
        asked.append(fullname)
        if fullname == "app.magic":
            return importlib.util.spec_from_file_location(fullname, "elsewhere/magic.py")
        return _original.__func__(_cls, fullname, path, target)

    finder_class.find_spec = staticmethod(plain_function)
    try:
        with install(POLICY):
            unload("app.magic")
            magic = importlib.import_module("app.magic")
            assert magic.ORIGIN == "patched finder"
            assert type(magic.__builtins__).__name__ == "_GuardedBuiltins"
    finally:
        finder_class.find_spec = original
    assert "app.magic" in asked, (finder_class, asked)
done()
