"""The guarded ``__import__``, its fast-path caches, and the active guard they serve.

A guarded module's ``__import__`` is the closure ``_make_import`` returns: a fast path for
import forms known to be clean, and ``_guarded_import``, the slow path that asks the active
guard. ``importlib.import_module``, ``pkgutil.resolve_name`` and ``runpy.run_module`` are
guarded the same way, through the views a guarded module gets of those standard modules
(``_ModuleView``; they hand out this module's functions, which hand out views: one concern,
one module).

The active guard (``_active``) and the caches live here, as module globals, because the
hot functions read them as such (the cheapest lookup). Every cache is valid for the active
guard only: ``activate`` and ``deactivate`` are the only places that rebind ``_active``,
and the only ones that empty the caches. Other modules read ``importing._active``, never a
copy of it.
"""

from __future__ import annotations

import builtins
import importlib
import operator
import sys
import threading
import types
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Final

from taskguard._errors import ForbiddenImportError
from taskguard._hook.overlay import _REAL_BUILTINS, _overlay_of
from taskguard._imports import calc_package

if TYPE_CHECKING:
    from taskguard._hook.guard import Guard

ImportFunc = Callable[..., Any]

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
# The same verdict by first segment (it depends on nothing else): a dotted name not seen
# before is decided by its head, without a call and without the lock. Filled by
# _learn_free only, under the lock, as _free.
_free_heads: dict[str, bool] = {}
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
_views: dict[tuple[str, str], types.ModuleType] = {}


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
                        # not getattr(module.__spec__ or None, "_initializing", False), in
                        # attribute reads (no getattr call): an AttributeError from either
                        # read means not initialising
                        try:
                            spec: Any = module.__spec__
                            initializing = spec._initializing
                        except AttributeError:
                            initializing = False
                        if not initializing:
                            return module
                elif type(name) is str and name in _clean_dotted:
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
                if type(name) is str:
                    free = _free.get(name)
                    if free is None:
                        # A name not seen before, with a first segment seen before (the
                        # usual first load of a module): decided without a call. A loaded
                        # one is learnt, for the fast paths above.
                        free = _free_heads.get(name.partition(".")[0])
                        if free is None or name in _MODULES:
                            free = _learn_free(name)
                    if free:
                        # A first load, or one still initialising: the import system's
                        # own path, with nothing to check (see _learn_free).
                        return _REAL_BUILTINS["__import__"](name, globals, locals, (), 0)
            elif type(fromlist) is tuple and type(name) is str:
                free = _free.get(name)
                if free is None:
                    free = _free_heads.get(name.partition(".")[0])  # as above
                    if free is None or name in _MODULES:
                        free = _learn_free(name)
                names = None
                if free:
                    if len(fromlist) == 1:
                        # One exact-string item, not "*": the usual `from x import y`,
                        # decided without a cache (a module-level one runs once).
                        item = fromlist[0]
                        plain = type(item) is str and item != "*"
                    else:
                        try:
                            # A hit is the very tuple object checked before: its items are
                            # exact strings and none is "*" (star imports are judged on
                            # what they bind, in the slow path).
                            plain = _plain_fromlists.get(fromlist) is fromlist or _plain_fromlist(
                                fromlist
                            )
                        except TypeError:  # an unhashable item: the import refuses it
                            plain = False
                else:
                    plain = False
                    try:
                        forms = _forms.get(fromlist)
                        if forms is not None:
                            form = forms.get(importer)
                            if form is not None and form[0] is fromlist and form[1] == name:
                                plain = True
                        names = _anyone.get(fromlist)
                    except TypeError:  # an unhashable item: the import itself refuses it
                        plain, names = False, None
                if plain:
                    module = _MODULES.get(name)
                    if module is not None and _REAL_BUILTINS["__import__"] is _ORIGINAL_IMPORT:
                        # A loaded plain module: what __import__ itself would return, without
                        # its call (and, for a package, importlib's _handle_fromlist, which
                        # imports nothing when every item is bound in the package already).
                        try:
                            spec = module.__spec__
                        except AttributeError:
                            spec = None
                        if type(module) is _ModuleType:
                            try:  # getattr(spec, "_initializing", False), as above
                                initializing = spec._initializing
                            except AttributeError:
                                initializing = False
                        else:
                            initializing = True  # not a plain module: the import system's
                        if not initializing:
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
                    and all(type(item) is str for item in fromlist)
                ):
                    # Checked exact: this module's next run of it takes the identity path.
                    if len(_forms) < _FORMS_LIMIT:
                        _forms.setdefault(fromlist, {})[importer] = (fromlist, name)
                    return _REAL_BUILTINS["__import__"](name, globals, locals, fromlist, 0)
        result = _guarded_import(importer, name, globals, locals, fromlist, level)
        if type(result) is ForbiddenImportError:
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
            _free_heads[head] = free
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
        if type(item) is not str or item == "*":
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
        if type(name) is not str or type(level) is not int:
            name, level = _plain(name), operator.index(level)
        items: tuple[Any, ...] = ()
        caller_fromlist = fromlist
        if fromlist:
            items = tuple(fromlist)
            for item in items:
                if type(item) is not str:
                    items = tuple(map(_plain, items))
                    break
            fromlist = items
        # The caller's fromlist, when it is a tuple of exact strings: tuple() returned it.
        remember = caller_fromlist if items and items is caller_fromlist and not level else None
        package = None
        if level:
            package = calc_package(globals_)
            if globals_ is not None and type(globals_) is not dict:
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
    if type(value) is not str and isinstance(value, str):
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
        if type(importer) is not str:
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


def activate(guard: Guard) -> None:
    """Make ``guard`` the active guard (called with ``_lock`` held, none active: the
    caches are empty)."""
    global _active
    _active = guard


def deactivate(guard: Guard) -> None:
    """If ``guard`` is the active guard, leave none active and empty every cache, which
    held what was clean under it (called with ``_lock`` held)."""
    global _active
    if _active is guard:
        _active = None
        _verified.clear()
        _free.clear()
        _free_heads.clear()
        _plain_fromlists.clear()
        _clean_names.clear()
        _forms.clear()
        _anyone.clear()
        _clean_dotted.clear()
