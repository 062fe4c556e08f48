"""The runtime guard: a ``sys.meta_path`` finder and per-module builtins.

Nothing global is patched. The one global change is a finder at ``sys.meta_path[0]``. It
handles first-party names only: it finds their spec through the finders after it and
wraps the loader, so that just before a first-party module executes, its namespace gets
its own builtins mapping whose ``__import__`` is bound to that module's name. Every
function, class body, generator, thread target and ``exec``/``eval`` of that module reads
its builtins from there (functions capture them when they are created), so every import
the module runs is checked, even when the target is already in ``sys.modules``.

Stdlib only at import time: ``structlog`` is imported lazily, in ``warn`` mode, so the
guard runs in any interpreter that can import ``taskguard``.
"""

from __future__ import annotations

import _imp
import builtins
import functools
import importlib
import operator
import sys
import threading
import types
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from importlib.machinery import (
    ExtensionFileLoader,
    ModuleSpec,
    SourceFileLoader,
    SourcelessFileLoader,
)
from typing import Any, ClassVar, Final

from taskguard._errors import HINT, ForbiddenImportError, PolicyError, TaskguardError
from taskguard._imports import (
    calc_package,
    could_be_refused,
    heads,
    import_candidates,
    refusable_heads,
    resolve_import_module,
    resolve_relative,
)
from taskguard._policy import (
    Policy,
    Verdict,
    decide,
    load_policy,
    matches,
    pattern_problem,
)
from taskguard._pyargv import parse_python_argv
from taskguard._rules import Violation

__all__ = [
    "EVENT",
    "BlockedImportReporter",
    "Guard",
    "UnguardedModuleWarning",
    "active_guard",
    "add_listener",
    "describe",
    "ensure_first",
    "guard_main_module",
    "install",
    "install_quietly",
    "remove_listener",
    "set_mode",
    "uninstall",
]

EVENT: Final = "taskguard.forbidden_import"
MODES: Final = ("error", "warn")

ImportFunc = Callable[..., Any]
# Called with every violation (before anything is raised) and the error about to be raised
# (``None`` in warn mode).
Listener = Callable[[Violation, "ForbiddenImportError | None"], None]

_REAL_BUILTINS: Final[dict[str, Any]] = builtins.__dict__
_ORIGINAL_IMPORT: Final = builtins.__import__  # taskguard: ignore[TG003] -- the guard itself
_MODULES: Final = sys.modules
_ModuleType: Final = types.ModuleType
_IMPORTLIB: Final = importlib

_lock = threading.RLock()
_active: Guard | None = None
# Imports each importer (a module name) made that were clean: a plain name for an undotted
# module imported without a fromlist (the fast path), a tuple for every other form. Emptied,
# as every cache below, whenever the active guard changes, so the fast path never has to
# look the guard up.
_verified: dict[str, set[Hashable]] = {}
_NOTHING: Final[frozenset[Hashable]] = frozenset()
# Exact-string names whose absolute imports no module can be refused and that need no view
# (see _learn_free): name -> whether so. A first-party module's imports of its own package,
# the bulk of an application's imports, take the import system's path at once.
_free: dict[str, bool] = {}
# Fromlist tuples found to hold exact strings only and no "*": value -> that very tuple.
# A hit needs the very object (a code object's constant, the same at every run of the
# statement), so the items need no second look.
_plain_fromlists: dict[tuple[str, ...], tuple[str, ...]] = {}
# Undotted module names that no module may be refused under the active guard: the fast path
# of a module that has not imported them yet.
_clean_names: set[str] = set()
# Absolute from-imports found clean: fromlist tuple -> importer (the very string its
# guarded __import__ holds) -> (that tuple object, the module name). A hit needs the very
# tuple object remembered (a code object's constant, shared by every equal fromlist of one
# module's code, so the same object at every run of the statement): only tuples of exact
# strings are remembered, so a hit needs no look at the items. Keyed by value, not id():
# id() raises an audit event, which costs an audit-hook call per import. Emptied with the
# other caches.
_forms: dict[tuple[str, ...], dict[str, tuple[tuple[str, ...], str]]] = {}
# Absolute from-imports no module can be refused (every candidate name is clean whoever
# imports it): fromlist tuple -> module names. A hit also needs a fromlist of exact strings
# (an item that only claims to equal a remembered one is checked the slow way). A module
# running such a statement for the first time skips the slow path.
_anyone: dict[tuple[str, ...], set[str]] = {}
# The same for dotted imports without a fromlist (``import os.path``): name -> top-level
# package, what the statement binds.
_clean_dotted: dict[str, str] = {}
# At most this many (code made at run time could make new fromlist tuples without end).
_FORMS_LIMIT: Final = 100_000
# How clean an import form is: refused (or not decidable), clean for this importer only,
# clean whoever imports it.
_DIRTY, _CLEAN_HERE, _CLEAN_FOR_ANYONE = 0, 1, 2
_views: dict[tuple[str, str], types.ModuleType] = {}


class UnguardedModuleWarning(UserWarning):
    """First-party modules were imported before the guard was installed.

    Their functions captured the real builtins when they were created (3.10+), so their
    imports cannot be guarded retroactively. ``modules`` names them.
    """

    def __init__(self, modules: Iterable[str]) -> None:
        self.modules = tuple(modules)
        super().__init__(self._render())

    def _render(self) -> str:
        names = ", ".join(self.modules)
        return (
            f"taskguard: {len(self.modules)} first-party module(s) were imported before the "
            f"guard was installed and are not guarded: {names}; install the guard earlier"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.modules,))


# --------------------------------------------------------------------------- builtins


class _Overlay(dict[str, Any]):
    """A namespace seen through a few guarded names of its own.

    The guarded names are the dict's own items; any other key falls through to the real
    namespace (``_real``) at lookup time, so later changes to it (``mock.patch``,
    ``monkeypatch.setattr``) stay visible. ``__missing__`` is the real dict's own C
    ``__getitem__`` (a builtin method has no ``__get__``, so CPython calls it with the key
    alone): a fall-through runs no Python code. Introspection sees the merged mapping, and
    every write goes to the real namespace, exactly as it would without the guard: code
    that writes through ``__builtins__[...]`` means the process-wide builtins, and cannot
    remove its own guarded ``__import__`` that way.
    """

    __slots__ = ()
    _real: ClassVar[dict[str, Any]]

    def _merged(self) -> dict[str, Any]:
        merged = dict(self._real)
        merged.update(dict.items(self))
        return merged

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._real

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged())

    def __len__(self) -> int:
        return len(self._merged())

    def __eq__(self, other: object) -> bool:
        return self._merged() == other

    def __ne__(self, other: object) -> bool:
        return self._merged() != other

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._merged())

    def keys(self) -> Any:
        return self._merged().keys()

    def values(self) -> Any:
        return self._merged().values()

    def items(self) -> Any:
        return self._merged().items()

    def copy(self) -> dict[str, Any]:
        return self._merged()

    def __or__(self, other: Any) -> Any:
        return self._merged() | other

    def __ror__(self, other: Any) -> Any:
        return other | self._merged()

    def __setitem__(self, key: str, value: Any) -> None:
        self._real[key] = value

    def __delitem__(self, key: str) -> None:
        del self._real[key]

    def __ior__(self, other: Any) -> Any:
        self._real.update(other)
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._real.update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        return self._real.setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        return self._real.pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        return self._real.popitem()

    def clear(self) -> None:
        self._real.clear()

    def __reduce__(self) -> Any:
        return (dict, (self._merged(),))


class _GuardedBuiltins(_Overlay):
    """A guarded module's builtins: its own ``__import__``, the live builtins otherwise.

    See docs/runtime-guard.md for what the fall-through costs against an exact dict.
    """

    __slots__ = ()
    _real = _REAL_BUILTINS
    __missing__ = _REAL_BUILTINS.__getitem__


_overlays: dict[int, type[_Overlay]] = {id(_REAL_BUILTINS): _GuardedBuiltins}


def _overlay_of(namespace: dict[str, Any]) -> type[_Overlay]:
    cls = _overlays.get(id(namespace))
    if cls is None or cls._real is not namespace:
        attrs = {"__slots__": (), "_real": namespace, "__missing__": namespace.__getitem__}
        cls = _overlays[id(namespace)] = type("_GuardedNamespace", (_Overlay,), attrs)
    return cls


def _make_import(importer: str) -> ImportFunc:
    # The only per-module state is this closure (its importer): what the module imported
    # and found clean lives in _verified, keyed by the importer's name, because a verdict
    # depends on that name alone.
    def __import__(
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        __tracebackhide__ = True
        if not level:
            if not fromlist:
                if name in _clean_names or name in _verified.get(importer, _NOTHING):
                    # An already-loaded top-level module: what __import__ itself would
                    # return. Anything else takes the slow path, which checks it.
                    module = _MODULES.get(name)
                    if module is not None and _REAL_BUILTINS["__import__"] is _ORIGINAL_IMPORT:
                        try:
                            spec = module.__spec__
                        except AttributeError:
                            spec = None
                        if not getattr(spec, "_initializing", False):
                            return module
                elif name.__class__ is str and name in _clean_dotted:
                    # `import a.b` of loaded modules: binds the top-level package, as
                    # __import__ itself returns it.
                    module = _MODULES.get(name)
                    top = _MODULES.get(_clean_dotted[name])
                    if (
                        module is not None
                        and top is not None
                        and _REAL_BUILTINS["__import__"] is _ORIGINAL_IMPORT
                    ):
                        try:
                            spec, top_spec = module.__spec__, top.__spec__
                        except AttributeError:
                            spec = top_spec = None
                        if not getattr(spec, "_initializing", False) and not getattr(
                            top_spec, "_initializing", False
                        ):
                            return top
                if name.__class__ is str:
                    free = _free.get(name)
                    if free is None:
                        free = _learn_free(name)
                    if free:
                        # A first load, or one still initialising: the import system's
                        # own path, with nothing to check (see _learn_free).
                        return _REAL_BUILTINS["__import__"](name, globals, locals, (), 0)
            elif fromlist.__class__ is tuple and name.__class__ is str:
                free = _free.get(name)
                if free is None:
                    free = _learn_free(name)
                try:
                    if free:
                        # A hit is the very tuple object checked before: its items are
                        # exact strings and none is "*" (star imports are judged on what
                        # they bind, in the slow path).
                        plain = _plain_fromlists.get(fromlist) is fromlist
                        names = None
                    else:
                        plain = False
                        forms = _forms.get(fromlist)
                        if forms is not None:
                            form = forms.get(importer)
                            if form is not None and form[0] is fromlist and form[1] == name:
                                plain = True
                        names = _anyone.get(fromlist)
                except TypeError:  # an unhashable item: the import itself refuses it
                    plain, names = False, None
                if plain or (
                    free
                    and (
                        # one exact-string item, not "*": _plain_fromlist() inline (the
                        # usual `from x import y`; a module-level one runs once)
                        (len(fromlist) == 1 and fromlist[0].__class__ is str and fromlist[0] != "*")
                        or _plain_fromlist(fromlist)
                    )
                ):
                    module = _MODULES.get(name)
                    if module is not None and _REAL_BUILTINS["__import__"] is _ORIGINAL_IMPORT:
                        # A loaded plain module: what __import__ itself would return, without
                        # its call (and, for a package, importlib's _handle_fromlist, which
                        # imports nothing when every item is bound in the package already).
                        try:
                            spec = module.__spec__
                        except AttributeError:
                            spec = None
                        if module.__class__ is _ModuleType and not getattr(
                            spec, "_initializing", False
                        ):
                            namespace = module.__dict__
                            if "__path__" not in namespace:
                                if "__getattr__" not in namespace:
                                    return module
                            else:
                                for item in fromlist:
                                    if item not in namespace:
                                        break
                                else:
                                    return module
                    return _REAL_BUILTINS["__import__"](name, globals, locals, fromlist, 0)
                if (
                    names is not None
                    and name in names
                    and all(item.__class__ is str for item in fromlist)
                ):
                    # Checked exact: this module's next run of it takes the identity path.
                    if len(_forms) < _FORMS_LIMIT:
                        _forms.setdefault(fromlist, {})[importer] = (fromlist, name)
                    return _REAL_BUILTINS["__import__"](name, globals, locals, fromlist, 0)
        result = _guarded_import(importer, name, globals, locals, fromlist, level)
        if result.__class__ is ForbiddenImportError:
            raise result  # from here, so a traceback shows one guard frame
        return result

    return __import__


def _learn_free(name: str) -> bool:
    """Whether every form of an absolute import of ``name`` (an exact string) is clean
    whoever imports it, with nothing to do but import: its first segment is not one a
    refusable pattern starts with (every candidate name of the import shares it, as in
    ``Guard._check_import``), and it is none of ``_VIEWED``. Remembered while the guard
    stays active."""
    guard = _active
    if guard is None:
        return False
    heads = guard._forbidden_heads
    head = name.partition(".")[0]
    free = heads is not None and head not in heads and head not in _VIEWED
    with _lock:
        if _active is guard and len(_free) < _FORMS_LIMIT:
            _free[name] = free
            if free and name:
                # Clean whoever imports it: the closures' fast paths for loaded modules.
                if "." in name:
                    _clean_dotted[name] = head
                else:
                    _clean_names.add(name)
    return free


def _plain_fromlist(fromlist: tuple[Any, ...]) -> bool:
    """Whether ``fromlist`` holds exact strings only, none of them ``"*"``; remembered by
    the tuple object itself (see ``_plain_fromlists``)."""
    for item in fromlist:
        if item.__class__ is not str or item == "*":
            return False
    if len(_plain_fromlists) < _FORMS_LIMIT:
        _plain_fromlists[fromlist] = fromlist
    return True


def _guarded_import(  # noqa: PLR0917 - the hot path: positional is cheapest
    importer: str,
    name: str,
    globals_: Any,
    locals_: Any,
    fromlist: Any,
    level: int,
) -> Any:
    """The slow path: check, then import. Returns the error to raise instead of raising."""
    guard = _active
    if guard is not None:
        # What is checked is exactly what is imported: plain strings and ints (a str or int
        # subclass can lie about its hash, equality or truth), the fromlist iterated once,
        # and for a relative import the package computed here.
        if name.__class__ is not str or level.__class__ is not int:
            name, level = _plain(name), operator.index(level)
        items: tuple[Any, ...] = ()
        caller_fromlist = fromlist
        if fromlist:
            items = tuple(fromlist)
            for item in items:
                if item.__class__ is not str:
                    items = tuple(map(_plain, items))
                    break
            fromlist = items
        # The caller's fromlist, when it is a tuple of exact strings: tuple() returned it.
        remember = caller_fromlist if items and items is caller_fromlist and not level else None
        package = None
        if level:
            package = calc_package(globals_)
            if globals_ is not None and globals_.__class__ is not dict:
                globals_ = {"__package__": package}  # read once, here
        # A plain name is the key the closure's fast path looks up.
        plain = not items and not level and "." not in name
        key: Hashable = name if plain else (name, items, level, package)
        verified = _verified.get(importer)
        if verified is None:
            verified = _verified.setdefault(importer, set())
        try:
            known = key in verified
        except TypeError:  # an unhashable fromlist item: the import itself will refuse it
            key, known = None, False
        if known:
            # Made before and clean: the statement runs again (a lazy import in a function),
            # so give it the closure's fast path. A statement that runs once (module level)
            # never gets here and costs nothing to remember.
            if remember is not None and len(_forms) < _FORMS_LIMIT:
                _forms.setdefault(remember, {})[importer] = (remember, name)
            return _REAL_BUILTINS["__import__"](name, globals_, locals_, fromlist, level)
        # A form this module has not made before, or one never remembered: a star import
        # (judged on what it binds, after the import) and the standard modules seen
        # through a view (see _VIEWED).
        star = "*" in items
        viewed = not level and (
            name in _VIEWED or (not items and name.partition(".")[0] in _VIEWED)
        )
        if star or viewed:
            key = None
        if key is not None and key in guard._clean:
            verified.add(key)
            _remember_clean(name, items, level, remember)
        else:
            error = guard._verify(importer, verified, key, name, items, level, package)
            if error is not None:
                return error
            if key is not None and key in guard._clean:
                _remember_clean(name, items, level, remember)
        module = _REAL_BUILTINS["__import__"](name, globals_, locals_, fromlist, level)
        if star:
            error = guard._check_star(importer, module)
            if error is not None:
                return error
        if viewed and getattr(module, "__name__", None) in _VIEWED:
            return _view(importer, module)
        return module
    return _REAL_BUILTINS["__import__"](name, globals_, locals_, fromlist, level)


def _remember_clean(name: str, items: tuple[Any, ...], level: int, remember: Any) -> None:
    """Give an import form no module can be refused the closures' fast path for every
    module (``name`` is an exact string here; ``remember`` the caller's fromlist when it
    is a tuple of exact strings)."""
    if level or len(_anyone) >= _FORMS_LIMIT:
        return
    if remember is not None:
        _anyone.setdefault(remember, set()).add(name)
    elif not items and "." in name:
        _clean_dotted[name] = name.partition(".")[0]


def _plain(value: Any) -> Any:
    """A str subclass as the exact string it holds (anything else unchanged)."""
    if value.__class__ is not str and isinstance(value, str):
        return str.__str__(value)
    return value


def _make_main_import(fallback: str, namespace: dict[str, Any]) -> ImportFunc:
    """``__import__`` for ``__main__``: the importer is the module runpy is running there
    (``namespace`` is ``__main__``'s, never the globals a caller passes in)."""
    imports: dict[str, ImportFunc] = {}

    def __import__(
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        spec = namespace.get("__spec__")
        importer = getattr(spec, "name", None)
        if importer.__class__ is not str:
            importer = fallback
        guarded = imports.get(importer)
        if guarded is None:
            guarded = imports.setdefault(importer, _make_import(importer))
        return guarded(name, globals, locals, fromlist, level)

    return __import__


def _make_import_module(importer: str) -> Callable[..., types.ModuleType]:
    def import_module(name: str, package: str | None = None) -> types.ModuleType:
        __tracebackhide__ = True
        guard = _active
        if guard is not None:
            name = _plain(name)
            package = _plain(package)
            error = guard._check_dynamic(importer, name, package)
            if error is not None:
                raise error
        result: types.ModuleType
        result = _IMPORTLIB.import_module(name, package)  # taskguard: ignore[TG003] -- checked
        if guard is not None and getattr(result, "__name__", None) in _VIEWED:
            return _view(importer, result)
        return result

    return import_module


def _make_resolve_name(importer: str, real: types.ModuleType) -> Callable[..., Any]:
    def resolve_name(name: str) -> Any:
        __tracebackhide__ = True
        guard = _active
        if guard is not None:
            name = _plain(name)
            if isinstance(name, str):
                error = guard._check_by_name(importer, _resolved_names(name))
                if error is not None:
                    raise error
        return real.resolve_name(name)  # looked up now: mock.patch keeps working

    return resolve_name


def _make_run_module(importer: str, real: types.ModuleType) -> Callable[..., Any]:
    def run_module(mod_name: str, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        guard = _active
        if guard is not None:
            mod_name = _plain(mod_name)
            if isinstance(mod_name, str):
                error = guard._check_by_name(importer, (mod_name,))
                if error is not None:
                    raise error
        return real.run_module(mod_name, *args, **kwargs)  # looked up now, as above

    return run_module


def _resolved_names(name: str) -> list[str]:
    """Every module ``pkgutil.resolve_name(name)`` may import or bind: each dotted prefix
    (``a``, ``a.b``, ``a.b.C``; the part after a ``:`` is a member of the module before)."""
    parts = name.replace(":", ".").split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


# Standard-library modules whose functions import by name on behalf of their caller. A
# guarded module that imports one gets a view: those functions are checked first (with the
# importer the view belongs to), every other attribute is the real module's.
_VIEWED: Final = frozenset({"builtins", "importlib", "pkgutil", "runpy"})


def _view_functions(importer: str, real: types.ModuleType) -> dict[str, Any]:
    name = real.__name__
    if name == "builtins":
        return {"__import__": _make_import(importer)}
    if name == "importlib":
        return {
            "import_module": _make_import_module(importer),
            "__import__": _make_import(importer),
        }
    if name == "pkgutil":
        return {"resolve_name": _make_resolve_name(importer, real)}
    return {"run_module": _make_run_module(importer, real)}


_module_dict: Final[Callable[[types.ModuleType], dict[str, Any]]] = vars(types.ModuleType)[
    "__dict__"
].__get__


class _ModuleView(types.ModuleType):
    """A standard-library module as one guarded module sees it (see ``_VIEWED``).

    Attributes are read from, written and listed through to the real module at the time
    of use, except the guarded functions; ``vars()``/``__dict__`` is a live mapping over the
    real namespace with those functions in it. The view's own module dict, which CPython
    reads when the view itself is handed over as ``__builtins__``, holds a copy of the real
    namespace with the guarded functions.
    """

    __slots__ = ("_taskguard_namespace", "_taskguard_real")

    def __init__(self, importer: str, real: types.ModuleType) -> None:
        super().__init__(real.__name__, real.__doc__)
        functions = _view_functions(importer, real)
        namespace = _overlay_of(real.__dict__)(functions)
        object.__setattr__(self, "_taskguard_real", real)
        object.__setattr__(self, "_taskguard_namespace", namespace)
        own = _module_dict(self)
        own.update(real.__dict__)
        own.update(functions)

    def __getattribute__(self, name: str) -> Any:
        namespace = object.__getattribute__(self, "_taskguard_namespace")
        if dict.__contains__(namespace, name):
            return dict.__getitem__(namespace, name)
        if name == "__dict__":
            return namespace
        if name in ("_taskguard_namespace", "_taskguard_real"):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "_taskguard_real"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_taskguard_real"), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(object.__getattribute__(self, "_taskguard_real"), name)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_taskguard_real"))

    def __repr__(self) -> str:
        return f"<taskguard view of {object.__getattribute__(self, '_taskguard_real')!r}>"


def _view(importer: str, real: types.ModuleType) -> types.ModuleType:
    """The view of ``real`` (a module named in ``_VIEWED``) for ``importer``."""
    if _MODULES.get(real.__name__) is not real:
        return real  # not the standard module of that name
    key = (importer, real.__name__)
    view = _views.get(key)
    if view is None or object.__getattribute__(view, "_taskguard_real") is not real:
        view = _views[key] = _ModuleView(importer, real)
    return view


def _prepare(module: types.ModuleType, importer: str) -> None:
    if _active is not None:
        module.__dict__["__builtins__"] = _GuardedBuiltins(__import__=_make_import(importer))


# --------------------------------------------------------------------------- loaders


def _spec_name(module: types.ModuleType) -> str:
    spec = getattr(module, "__spec__", None)
    name = getattr(spec, "name", None) or module.__name__
    return str(name)


def _create(create_module: Callable[[ModuleSpec], Any], spec: ModuleSpec) -> Any:
    # Guard._frame_check reads ``importer`` back from this frame: it names the extension
    # module whose initialisation (C code, no Python frame of its own) imports something.
    importer = spec.name  # noqa: F841
    return create_module(spec)


def _exec(
    exec_module: Callable[[types.ModuleType], None], module: types.ModuleType, prepare: bool = True
) -> None:
    __tracebackhide__ = True
    importer = _spec_name(module)  # read back by Guard._frame_check
    if prepare:
        _prepare(module, importer)
    exec_module(module)


class _GuardedSourceFileLoader(SourceFileLoader):
    def exec_module(self, module: types.ModuleType) -> None:
        __tracebackhide__ = True
        if _active is not None:
            # _prepare(module, _spec_name(module)), inline: this runs for every module
            spec = getattr(module, "__spec__", None)
            importer = getattr(spec, "name", None) or module.__name__
            if importer.__class__ is not str:
                importer = str(importer)
            module.__dict__["__builtins__"] = _GuardedBuiltins(__import__=_make_import(importer))
        SourceFileLoader.exec_module(self, module)


class _GuardedSourcelessFileLoader(SourcelessFileLoader):
    def exec_module(self, module: types.ModuleType) -> None:
        __tracebackhide__ = True
        if _active is not None:
            # _prepare(module, _spec_name(module)), inline: this runs for every module
            spec = getattr(module, "__spec__", None)
            importer = getattr(spec, "name", None) or module.__name__
            if importer.__class__ is not str:
                importer = str(importer)
            module.__dict__["__builtins__"] = _GuardedBuiltins(__import__=_make_import(importer))
        SourcelessFileLoader.exec_module(self, module)


class _GuardedExtensionFileLoader(ExtensionFileLoader):
    # An extension has no Python-level imports to guard; the frames of these two methods
    # let the second line (find_spec) name the extension that imports during its init.
    def create_module(self, spec: ModuleSpec) -> types.ModuleType:
        result: types.ModuleType = _create(super().create_module, spec)
        return result

    def exec_module(self, module: types.ModuleType) -> None:
        _exec(super().exec_module, module, prepare=False)


_SWAPS: Final[dict[type, type]] = {
    SourceFileLoader: _GuardedSourceFileLoader,
    SourcelessFileLoader: _GuardedSourcelessFileLoader,
    ExtensionFileLoader: _GuardedExtensionFileLoader,
}


class _DelegatingLoader:
    """Wraps any other loader (pytest's assertion rewriter, zipimporter, editable and
    instrumenting hooks): ``create_module``/``exec_module`` are guarded, every other
    attribute is the wrapped loader's."""

    def __init__(self, loader: Any) -> None:
        object.__setattr__(self, "_taskguard_inner", loader)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_taskguard_inner"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._taskguard_inner, name, value)

    def create_module(self, spec: ModuleSpec) -> Any:
        create = getattr(self._taskguard_inner, "create_module", None)
        return None if create is None else _create(create, spec)

    def exec_module(self, module: types.ModuleType) -> None:
        __tracebackhide__ = True
        _exec(self._taskguard_inner.exec_module, module)

    def __repr__(self) -> str:
        return f"<taskguard guarded {self._taskguard_inner!r}>"


def _is_namespace(spec: ModuleSpec) -> bool:
    loader = spec.loader
    return loader is None or type(loader).__name__ in ("NamespaceLoader", "_NamespaceLoader")


def _guard_loader(loader: Any) -> Any | None:
    """A guarded stand-in for ``loader``, or ``None`` when it cannot be guarded."""
    swap = _SWAPS.get(type(loader))
    if swap is not None:
        # A new instance of the subclass with the same state: isinstance checks keep
        # holding and the finder's own loader object is never mutated.
        guarded: Any = object.__new__(swap)
        guarded.__dict__.update(loader.__dict__)
        return guarded
    if isinstance(loader, (_DelegatingLoader, *_SWAPS.values())):
        return loader
    if not callable(getattr(loader, "exec_module", None)):
        return None  # a legacy load_module()-only loader: only the second line covers it
    return _DelegatingLoader(loader)


# --------------------------------------------------------------------------- finder


_BuiltinImporter: Final = importlib.machinery.BuiltinImporter
_FrozenImporter: Final = importlib.machinery.FrozenImporter
# FrozenImporter.find_spec's own test: _imp.find_frozen (3.11+) answers None where it
# answers None; 3.10's asks _imp.is_frozen.
_is_frozen: Final[Callable[[str], Any]] = getattr(_imp, "find_frozen", _imp.is_frozen)
_BUILTIN_FIND: Final = getattr(_BuiltinImporter.find_spec, "__func__", None)
_FROZEN_FIND: Final = getattr(_FrozenImporter.find_spec, "__func__", None)

# The names this thread's finder is asking the other finders for, while it is not on
# sys.meta_path itself (wrapped by another hook).
_finding: Final = threading.local()


class _GuardFinder:
    """The ``sys.meta_path`` entry. Handles first-party names only."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    def find_spec(
        self, fullname: str, path: Any = None, target: types.ModuleType | None = None
    ) -> ModuleSpec | None:
        __tracebackhide__ = True
        guard = self._guard
        if guard is not _active:
            return None
        if fullname.__class__ is not str:
            fullname = _plain(fullname)  # judged by what it holds, never by its hash
        maybe = guard._maybe.get(fullname)  # guard._maybe_forbidden(), inline when known
        if maybe is None:
            heads = guard._forbidden_heads
            # The usual first ask of a name (every module is found once): no refusable
            # pattern starts with its first segment, decided without a call.
            maybe = heads is None or fullname.partition(".")[0] in heads
            if maybe:
                maybe = guard._maybe_forbidden(fullname)
        if maybe:
            error = guard._frame_check(fullname, sys._getframe(1))
            if error is not None:
                raise error
        guardable = guard._first_party.get(fullname)  # the same for guard._guardable()
        if not guardable and (guardable is not None or not guard._guardable(fullname)):
            return None
        meta_path = sys.meta_path
        if meta_path and meta_path[0] is self:
            spec = self._ask(meta_path[1:], fullname, path, target)
        else:
            spec = self._find_after_self(fullname, path, target)
        if spec is None:
            return None
        loader = spec.loader
        swap = _SWAPS.get(loader.__class__)
        if swap is not None:
            # _guard_loader(), inline for the usual file loaders: a new instance of the
            # subclass with the same state (isinstance checks keep holding and the
            # finder's own loader object is never mutated).
            guarded: Any = object.__new__(swap)
            guarded.__dict__.update(loader.__dict__)
            spec.loader = guarded
            return spec
        if _is_namespace(spec):
            return spec
        guarded = _guard_loader(loader)
        if guarded is None:
            guard._unguardable.add(fullname)
            return spec
        spec.loader = guarded
        return spec

    def _find_after_self(
        self, fullname: str, path: Any, target: types.ModuleType | None
    ) -> ModuleSpec | None:
        # Only the finders after this one: never this one again, nor a stale copy of it.
        meta_path = sys.meta_path
        try:
            after = meta_path[meta_path.index(self) + 1 :]
        except ValueError:
            # Not on sys.meta_path itself: a hook wraps it (one that wraps every finder).
            # Asking every finder asks that wrapper, so this finder, again: the inner ask
            # of the same name answers None.
            busy: set[str] = _finding.__dict__.setdefault("names", set())
            if fullname in busy:
                return None
            busy.add(fullname)
            try:
                return self._ask(list(meta_path), fullname, path, target)
            finally:
                busy.discard(fullname)
        return self._ask(after, fullname, path, target)

    @staticmethod
    def _ask(
        after: list[Any], fullname: str, path: Any, target: types.ModuleType | None
    ) -> ModuleSpec | None:
        for finder in after:
            if finder.__class__ is _GuardFinder:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            # The standard finders of built-in and frozen modules (unpatched) answer None
            # for any name their C table does not hold: asked only when it does (their
            # own test, without their Python frames), the answer is the same.
            if finder is _BuiltinImporter:
                if getattr(find_spec, "__func__", None) is _BUILTIN_FIND and not _imp.is_builtin(
                    fullname
                ):
                    continue
            elif (
                finder is _FrozenImporter
                and getattr(find_spec, "__func__", None) is _FROZEN_FIND
                and not _is_frozen(fullname)
            ):
                continue
            spec: ModuleSpec | None = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self) -> None:
        """Nothing cached here depends on the file system."""

    def __repr__(self) -> str:
        return f"<taskguard finder mode={self._guard.mode}>"


def _own_codes() -> tuple[frozenset[types.CodeType], ...]:
    wrapper_codes = {_make_main_import("", {}).__code__}
    guard_codes = {
        _make_import("").__code__,
        _guarded_import.__code__,
        _make_import_module("").__code__,
        _make_resolve_name("", importlib).__code__,
        _make_run_module("", importlib).__code__,
        *wrapper_codes,
    }
    loader_codes = {_create.__code__, _exec.__code__}
    return frozenset(guard_codes), frozenset(loader_codes), frozenset(wrapper_codes)


# Frames of these functions mean the import came through the guard and is checked already.
_GUARD_CODES, _LOADER_CODES, _WRAPPER_CODES = _own_codes()
_IMPORTLIB_FILE: Final = getattr(importlib, "__file__", None)


def _name_resolver_files() -> frozenset[str]:
    # Standard-library helpers that import a module *by name on behalf of their caller*
    # (pkgutil.resolve_name, runpy.run_module, importlib.util.find_spec, EntryPoint.load,
    # importlib.resources.files, the pure-Python unpickler's find_class): the frame check
    # looks through them to the code that asked, and only through them, so a third-party
    # library's own lazy import is never blamed on the code that called it.
    import glob
    import os.path

    if _IMPORTLIB_FILE is None:  # pragma: no cover - importlib always has a file
        return frozenset()
    package = os.path.dirname(_IMPORTLIB_FILE)
    stdlib = os.path.dirname(package)
    return frozenset(
        {
            _IMPORTLIB_FILE,
            os.path.join(package, "util.py"),
            os.path.join(package, "metadata", "__init__.py"),
            # importlib.resources: a module of its own before 3.11, a package since
            os.path.join(package, "resources.py"),
            os.path.join(package, "_common.py"),
            *glob.glob(os.path.join(glob.escape(package), "resources", "*.py")),
            os.path.join(stdlib, "pkgutil.py"),
            os.path.join(stdlib, "runpy.py"),
            os.path.join(stdlib, "pickle.py"),
            # importlib.resources (3.12+) dispatches through functools.singledispatch; a
            # functools frame only ever forwards a call, it never imports by itself
            os.path.join(stdlib, "functools.py"),
            # 3.11+ may run these from frozen modules (python -X frozen_modules=on)
            "<frozen runpy>",
            "<frozen pkgutil>",
        }
    )


_RESOLVER_FILES: Final = _name_resolver_files()


# --------------------------------------------------------------------------- adoption
#
# Another import hook placed in front of the finder (typeguard's install_import_hook, an
# APM agent, a reloader) finds first-party modules before the finder is asked, so their
# loader is never wrapped. Every source loader ends in the builtin ``exec(code,
# module.__dict__)``, which raises the audit event ``exec`` before the code runs (and after
# ``exec`` itself filled in a missing ``__builtins__``): there, a first-party module still
# holding the real builtins gets its guarded ones, whichever finder and loader brought it.
# An audit hook cannot be removed; with no guard active it returns at once.

_bootstrap: Final[Any] = importlib._bootstrap  # taskguard: ignore[TG003] -- its frames
# The loader's own call: ``_call_with_frames_removed(exec, code, module.__dict__)``.
_EXEC_TRAMPOLINE: Final = _bootstrap._call_with_frames_removed.__code__
# The import system's frames that hold the module being executed (``module``): a loader
# calling ``exec`` itself, with the namespace in an expression, is found through them.
_LOADING_CODES: Final = frozenset({_bootstrap._load_unlocked.__code__, _bootstrap._exec.__code__})
_watching = False


class _ExecWatch:
    """The audit hook: ``functools.partial(getattr, _ExecWatch())`` is called with
    ``(event, args)`` as ``getattr(watch, event, args)``, all in C, so the events that are
    not ``exec`` (``open``, ``id()``...) cost no Python frame; ``exec`` is the property
    below, which reads what it needs from the frame that called ``exec``."""

    __slots__ = ()

    @property
    def exec(self) -> None:
        guard = _active
        if guard is None:
            return
        meta_path = sys.meta_path
        if meta_path and meta_path[0] is guard._finder:
            # Every spec went through the finder, which guarded its loader already (the
            # usual case: a hook that got in front is put back behind it by install(),
            # the plugin and the bootstrap).
            return
        caller = sys._getframe().f_back  # no frames in between: the caller of exec()
        if caller is not None:
            _adopt(caller)


def _watch_loads() -> None:
    """Add the audit hook, once per process (called with ``_lock`` held)."""
    global _watching
    if not _watching:
        sys.addaudithook(functools.partial(getattr, _ExecWatch()))
        _watching = True


def _adopt(frame: types.FrameType | None) -> None:
    """Guard the first-party module a loader is about to execute (``frame`` called
    ``exec``), if it is not guarded yet."""
    namespace = None
    depth = 0
    # No limit on how far up: loader wrappers nest as deep as their authors like (an APM
    # agent around typeguard around a reloader); the nearest loading frame is the module.
    while frame is not None:
        frame_code = frame.f_code
        if frame_code is _EXEC_TRAMPOLINE and depth == 0:
            args = frame.f_locals.get("args")
            if args.__class__ is tuple and len(args) >= 2 and args[0].__class__ is types.CodeType:
                namespace = args[1]
                break
        elif frame_code in _LOADING_CODES:
            namespace = getattr(frame.f_locals.get("module"), "__dict__", None)
            break
        frame = frame.f_back
        depth += 1
    if namespace.__class__ is not dict:
        return
    assert isinstance(namespace, dict)
    if isinstance(namespace.get("__builtins__"), _Overlay):
        return  # guarded already (by the finder's loader, or an earlier exec)
    spec = namespace.get("__spec__")
    name = _plain(getattr(spec, "name", None) or namespace.get("__name__"))
    guard = _active
    if guard is not None and isinstance(name, str) and guard._guardable(name):
        namespace["__builtins__"] = _GuardedBuiltins(__import__=_make_import(name))


def _remove_finder(finder: _GuardFinder) -> None:
    """Take ``finder`` out of ``sys.meta_path`` by identity: ``list.remove`` compares with
    ``==``, and a proxy that wraps it (``wrapt.ObjectProxy``) compares equal to it."""
    meta_path = sys.meta_path
    if any(entry is finder for entry in meta_path):
        meta_path[:] = [entry for entry in meta_path if entry is not finder]


# --------------------------------------------------------------------------- the guard


class Guard:
    """The installed runtime guard. Obtain it with :func:`install`.

    A context manager: leaving the ``with`` block uninstalls it. ``violations`` holds
    every distinct violation seen, recorded before anything is raised, so one swallowed
    by ``except ImportError`` is still reported.
    """

    def __init__(self, policy: Policy, mode: str) -> None:
        if mode not in MODES:
            raise PolicyError([("mode", f"expected 'error' or 'warn', got {mode!r}")])
        self.policy = policy
        self.mode = mode
        self.unguarded: tuple[str, ...] = ()
        self._finder = _GuardFinder(self)
        self._lock = threading.Lock()
        self._violations: list[Violation] = []
        self._seen: set[Violation] = set()
        self._listeners: list[Listener] = []
        self._allowances: list[tuple[str, ...]] = []
        self._unguardable: set[str] = set()
        self._first_party: dict[str, bool] = {}
        self._maybe: dict[str, bool] = {}
        self._clean: set[Hashable] = set()  # import forms no importer can be refused
        # A name can only match a pattern that starts with its own first segment (unless a
        # pattern starts with a wildcard): most names are decided without a regex.
        self._root_heads = heads(policy.root_packages)
        self._forbidden_heads = refusable_heads(policy)

    # ------------------------------------------------------------------ public

    @property
    def installed(self) -> bool:
        return _active is self

    @property
    def violations(self) -> tuple[Violation, ...]:
        with self._lock:
            return tuple(self._violations)

    @property
    def protected(self) -> tuple[str, ...]:
        return self.policy.protected

    def uninstall(self) -> None:
        """Remove the finder from ``sys.meta_path``; guarded modules stop checking."""
        global _active
        with _lock:
            _remove_finder(self._finder)
            if _active is self:
                _active = None
                _verified.clear()
                _free.clear()
                _plain_fromlists.clear()
                _clean_names.clear()
                _forms.clear()
                _anyone.clear()
                _clean_dotted.clear()

    @contextmanager
    def allowing(self, *modules: str, reason: str) -> Iterator[None]:
        """Permit importing ``modules`` (patterns) from anywhere inside the block."""
        if not isinstance(reason, str) or not reason.strip():
            raise PolicyError([("reason", "an allowance needs a non-empty reason")])
        problems = [
            (f"modules[{i}]", problem)
            for i, module in enumerate(modules)
            if (problem := pattern_problem(module)) is not None
        ]
        if not modules:
            problems.append(("modules", "name at least one module pattern"))
        if problems:
            raise PolicyError(problems)
        entry = tuple(modules)
        with self._lock:
            self._allowances.append(entry)
        try:
            yield
        finally:
            with self._lock:
                self._allowances.remove(entry)

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    def __repr__(self) -> str:
        state = "installed" if self.installed else "uninstalled"
        return (
            f"<Guard {state} mode={self.mode} protected={len(self.policy.protected)} "
            f"violations={len(self._violations)}>"
        )

    # ------------------------------------------------------------------ internals

    def _add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def _remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _ensure_first(self) -> None:
        """Put the finder back in front (pytest and import hooks insert at index 0)."""
        with _lock:
            if _active is not self or (sys.meta_path and sys.meta_path[0] is self._finder):
                return
            _remove_finder(self._finder)
            sys.meta_path.insert(0, self._finder)

    def _guardable(self, name: str) -> bool:
        known = self._first_party.get(name)
        if known is None:
            # A pattern that matches a package matches everything in it: a submodule of a
            # guardable package is guardable (the usual case, decided without a regex).
            parent, dot, _ = name.rpartition(".")
            if dot and self._first_party.get(parent):
                known = True
            else:
                heads = self._root_heads
                known = (
                    name != "taskguard"
                    and not name.startswith("taskguard.")
                    and (heads is None or name.partition(".")[0] in heads)
                    and self.policy.is_first_party(name)
                )
            self._first_party[name] = known
        return known

    def _maybe_forbidden(self, name: str) -> bool:
        known = self._maybe.get(name)
        if known is None:
            heads = self._forbidden_heads
            known = self._maybe[name] = (
                heads is None or name.partition(".")[0] in heads
            ) and could_be_refused(self.policy, name)
        return known

    def _verify(  # noqa: PLR0917 - private, one call site
        self,
        importer: str,
        verified: set[Hashable],
        key: Hashable,
        name: str,
        items: tuple[Any, ...],
        level: int,
        package: str | None,
    ) -> ForbiddenImportError | None:
        """Check an import form the module has not made before; remember it when clean."""
        state, error = self._check_import(
            importer, name=name, fromlist=items, level=level, package=package
        )
        if key is not None and state != _DIRTY:
            verified.add(key)
            if state == _CLEAN_FOR_ANYONE:
                self._clean.add(key)
                if key.__class__ is str:
                    _clean_names.add(name)
        return error

    def _check_import(
        self,
        importer: str,
        *,
        name: str,
        fromlist: tuple[Any, ...],
        level: int,
        package: str | None,
    ) -> tuple[int, ForbiddenImportError | None]:
        """Check one import statement: how clean it is, and the error to raise."""
        if level:
            try:
                resolved = resolve_relative(name, package or "", level)
            except ImportError:
                return _DIRTY, None  # the import system raises its own error for this
        else:
            resolved = name
        heads = self._forbidden_heads
        if heads is not None and resolved.partition(".")[0] not in heads:
            return _CLEAN_FOR_ANYONE, None  # every candidate shares this first segment
        names = [item for item in fromlist if isinstance(item, str)]
        state = _CLEAN_FOR_ANYONE
        for candidate in import_candidates(resolved, names):
            # Only a dispatch or forbidden name can ever be refused, whoever imports it.
            if not self._maybe_forbidden(candidate):
                continue
            state = min(state, _CLEAN_HERE)
            verdict = decide(self.policy, importer, candidate)
            if verdict is not None and not verdict.allowed:
                state = _DIRTY
                frame = _caller_frame()
                error = self._violation(verdict, frame.f_code.co_filename, frame.f_lineno)
                if error is not None:
                    return _DIRTY, error
        return state, None

    def _check_dynamic(
        self, importer: str, name: object, package: str | None
    ) -> ForbiddenImportError | None:
        if not isinstance(name, str):
            return None  # importlib refuses it itself
        # A package that is not a string is no package: a relative name then makes
        # importlib raise, an absolute one is imported (and checked) whatever it is.
        resolved = resolve_import_module(name, package if isinstance(package, str) else None)
        if resolved is None:
            return None  # importlib raises for it itself
        if not self._maybe_forbidden(resolved):
            return None
        frame = _caller_frame()
        return self._check_names(importer, resolved, frame.f_code.co_filename, frame.f_lineno)

    def _check_by_name(self, importer: str, names: Iterable[str]) -> ForbiddenImportError | None:
        """Check modules a by-name helper (``pkgutil.resolve_name``...) is asked for."""
        for name in names:
            if self._maybe_forbidden(name):
                frame = _caller_frame()
                error = self._check_names(importer, name, frame.f_code.co_filename, frame.f_lineno)
                if error is not None:
                    return error
        return None

    def _check_star(self, importer: str, module: Any) -> ForbiddenImportError | None:
        """``from X import *``: check every name it is about to bind as ``X.name``."""
        base = _plain(getattr(module, "__name__", None))
        namespace = getattr(module, "__dict__", None)
        if not isinstance(base, str) or not isinstance(namespace, dict):
            return None
        public = namespace.get("__all__")
        if public is None:
            public = [key for key in namespace if isinstance(key, str) and key[:1] != "_"]
        for listed in public:
            member = _plain(listed)
            if not isinstance(member, str):
                continue
            candidate = f"{base}.{member}"
            if self._maybe_forbidden(candidate):
                verdict = decide(self.policy, importer, candidate)
                if verdict is not None and not verdict.allowed:
                    frame = _caller_frame()
                    error = self._violation(verdict, frame.f_code.co_filename, frame.f_lineno)
                    if error is not None:
                        return error
        return None

    def _frame_check(
        self, fullname: str, frame: types.FrameType | None
    ) -> ForbiddenImportError | None:
        """The second line, for first loads: find the code that asked for ``fullname``.

        Catches imports the builtins cannot see: modules executed without the finder
        (``spec_from_file_location``), modules imported before install, extension modules
        importing during initialisation, ``python -m`` mains.
        """
        while frame is not None:
            code = frame.f_code
            if code in _GUARD_CODES:
                return None  # came through a guarded __import__/import_module: checked there
            if code in _LOADER_CODES:
                importer = frame.f_locals.get("importer")
                if isinstance(importer, str) and self._guardable(importer):
                    return self._check_names(importer, fullname, _origin_of(frame), 0)
                return None
            filename = code.co_filename
            if filename.startswith("<frozen importlib") or filename in _RESOLVER_FILES:
                frame = frame.f_back
                continue
            importer = _frame_module(frame)
            if importer is None:
                # Code with namespace-less globals (exec/eval with a fresh dict, perhaps one
                # holding the real builtins): it runs on behalf of the frame that called it.
                frame = frame.f_back
                continue
            if self._guardable(importer):
                return self._check_names(importer, fullname, filename, frame.f_lineno)
            return None
        return None

    def _check_names(
        self, importer: str, imported: str, filename: str | None, lineno: int | None
    ) -> ForbiddenImportError | None:
        verdict = decide(self.policy, importer, imported)
        if verdict is not None and not verdict.allowed:
            return self._violation(verdict, filename, lineno)
        return None

    def _temporarily_allowed(self, imported: str) -> bool:
        with self._lock:
            allowances = tuple(self._allowances)
        return any(matches(p, imported) for entry in allowances for p in entry)

    def _violation(
        self, verdict: Verdict, filename: str | None, lineno: int | None
    ) -> ForbiddenImportError | None:
        """Record and notify; then log (warn) or return the error for the caller to raise."""
        if self._allowances and self._temporarily_allowed(verdict.imported):
            return None
        record = Violation(
            path=filename or "<unknown>",
            line=lineno or 0,
            column=0,
            code=verdict.code,
            importer=verdict.importer,
            imported=verdict.imported,
            message=verdict.message,
        )
        error = None
        if self.mode == "error":
            error = ForbiddenImportError(
                verdict.importer, verdict.imported, verdict.code, filename, lineno
            )
        with self._lock:
            new = record not in self._seen
            if new:
                self._seen.add(record)
                self._violations.append(record)
            listeners = tuple(self._listeners)
        for listener in listeners:
            listener(record, error)
        if error is None and new:
            _log(record)
        return error


def _log(record: Violation, *, level: str = "warning", event: str = EVENT) -> None:
    fields = {
        "code": record.code,
        "importer": record.importer,
        "imported": record.imported,
        "file": record.path,
        "line": record.line,
        "hint": HINT,
    }
    try:
        import structlog
    except ImportError:
        # An interpreter of a `taskguard run` tree without structlog: still say it.
        shown = " ".join(f"{key}={value!r}" for key, value in fields.items())
        sys.stderr.write(f"[{level:<9}] {event} {shown}\n")
        return
    if structlog.is_configured():
        logger = structlog.get_logger("taskguard")
    else:
        # structlog's unconfigured default prints to stdout, the program's own output (a
        # CLI's JSON, say): diagnostics go to stderr unless the program configured otherwise.
        logger = structlog.wrap_logger(structlog.PrintLogger(sys.stderr))
    getattr(logger, level)(event, **fields)


def _structlog_configured() -> bool:
    structlog = sys.modules.get("structlog")  # a program that configured it imported it
    try:
        return bool(structlog is not None and structlog.is_configured())
    except Exception:
        return False


def describe(record: Violation) -> str:
    """One line naming a violation: code, importer, imported module, file:line."""
    return (
        f"{record.code} {record.importer} imports {record.imported} at {record.path}:{record.line}"
    )


class BlockedImportReporter:
    """Makes blocked imports loud in a program that may swallow them (``taskguard run``,
    error mode): each distinct violation is written when it happens and again at exit, one
    line each on stderr, or as the structlog event ``taskguard.forbidden_import`` (level
    error) when the program configured structlog."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._seen: dict[Violation, None] = {}

    def __call__(self, record: Violation, error: ForbiddenImportError | None) -> None:
        with self._lock:
            if record in self._seen:
                return
            self._seen[record] = None
        self._emit(record, "taskguard: blocked import: ")

    def at_exit(self) -> None:
        with self._lock:
            seen = list(self._seen)
        if not seen:
            return
        if not _structlog_configured():
            self._write(
                f"taskguard: {len(seen)} forbidden import(s) were blocked in this process "
                "(raised, or swallowed by the program):\n"
            )
        for record in seen:
            self._emit(record, "taskguard:   ", event=f"{EVENT}.at_exit")

    def _emit(self, record: Violation, prefix: str, *, event: str = EVENT) -> None:
        if _structlog_configured():
            _log(record, level="error", event=event)
        else:
            self._write(f"{prefix}{describe(record)}\n")

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # stderr closed by the program: nowhere left to say it
            pass


def _caller_frame() -> types.FrameType:
    """The frame of the code that asked for the import: the first one that is not ours."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code in _INTERNAL_CODES:
        frame = frame.f_back
    return frame


def _origin_of(frame: types.FrameType) -> str | None:
    spec = frame.f_locals.get("spec")
    module = frame.f_locals.get("module")
    origin = getattr(spec, "origin", None) or getattr(
        getattr(module, "__spec__", None), "origin", None
    )
    return origin if isinstance(origin, str) else None


def _frame_module(frame: types.FrameType) -> str | None:
    namespace = frame.f_globals
    name = namespace.get("__name__")
    if name == "__main__":
        spec = namespace.get("__spec__")
        name = getattr(spec, "name", None) or name
    return name if isinstance(name, str) else None


_INTERNAL_CODES: Final = _GUARD_CODES | {
    Guard._verify.__code__,
    Guard._check_import.__code__,
    Guard._check_dynamic.__code__,
    Guard._check_by_name.__code__,
    Guard._check_star.__code__,
    _caller_frame.__code__,
}


# --------------------------------------------------------------------------- the API


def active_guard() -> Guard | None:
    """The installed guard, if any."""
    return _active


def install(policy: Policy | None = None, *, mode: str | None = None) -> Guard:
    """Install the runtime guard and return it.

    ``policy`` defaults to the nearest ``pyproject.toml``; ``mode`` to the policy's.
    Idempotent: while a guard is installed, a call returns it and adds no finder (a
    different explicit policy or mode is refused instead of silently ignored).
    First-party modules already imported cannot be guarded: they are listed in
    ``Guard.unguarded`` and an :class:`UnguardedModuleWarning` names them.
    """
    guard, created = _install(policy, mode=mode)
    if created and guard.unguarded:
        warnings.warn(UnguardedModuleWarning(guard.unguarded), stacklevel=2)
    return guard


def uninstall() -> None:
    """Uninstall the active guard, if any."""
    guard = _active
    if guard is not None:
        guard.uninstall()


def install_quietly(policy: Policy | None, *, mode: str | None) -> tuple[Guard, bool]:
    """:func:`install` for the plugin and the bootstrap, which report ``Guard.unguarded``
    their own way: returns the guard and whether this call installed it."""
    return _install(policy, mode=mode)


def add_listener(guard: Guard, listener: Listener) -> None:
    """Call ``listener`` with every violation ``guard`` records (package use only)."""
    guard._add_listener(listener)


def remove_listener(guard: Guard, listener: Listener) -> None:
    guard._remove_listener(listener)


def ensure_first(guard: Guard) -> None:
    """Put ``guard``'s finder back at ``sys.meta_path[0]``."""
    guard._ensure_first()


def set_mode(guard: Guard, mode: str) -> None:
    """Switch an installed guard to ``mode`` (the plugin learns it after installing)."""
    if mode not in MODES:
        raise PolicyError([("mode", f"expected 'error' or 'warn', got {mode!r}")])
    guard.mode = mode


def _install(policy: Policy | None, *, mode: str | None) -> tuple[Guard, bool]:
    global _active
    with _lock:
        current = _active
        if current is not None:
            if (policy is not None and policy != current.policy) or (
                mode is not None and mode != current.mode
            ):
                raise TaskguardError(
                    "a taskguard guard is already installed with a different policy or "
                    "mode; uninstall it first"
                )
            current._ensure_first()  # in case something took it out of sys.meta_path
            return current, False
        if policy is None:
            policy = load_policy()
        guard = Guard(policy, mode or policy.mode)
        guard.unguarded = _preloaded(guard)
        _watch_loads()
        sys.meta_path.insert(0, guard._finder)
        _active = guard
        return guard, True


def _preloaded(guard: Guard) -> tuple[str, ...]:
    found = []
    for name, module in list(sys.modules.items()):
        if not isinstance(name, str) or module is None or not guard._guardable(name):
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        spec = namespace.get("__spec__")
        if spec is not None and _is_namespace(spec):
            continue
        if isinstance(namespace.get("__builtins__"), _GuardedBuiltins):
            continue  # guarded under an earlier install: it consults the active guard
        if "__file__" not in namespace:
            continue
        found.append(name)
    return tuple(sorted(found))


def guard_main_module(guard: Guard, argv: list[str] | None = None) -> str | None:
    """Guard ``__main__`` when the command line is ``python -m <first-party module>``.

    Called by the ``taskguard run`` bootstrap, which runs before the main module's code.
    Returns the module name guarded, if any.
    """
    argv = list(getattr(sys, "orig_argv", [])) if argv is None else argv
    name = parse_python_argv(argv).module
    main = sys.modules.get("__main__")
    if name is None or main is None or not guard._guardable(name):
        return None
    namespace = main.__dict__
    namespace["__builtins__"] = _GuardedBuiltins(__import__=_make_main_import(name, namespace))
    return name
