"""The guard's own code objects and the files of by-name resolvers: how the frame check
(``Guard._frame_check``) and the error's file:line (``_caller_frame``) tell the guard's
frames, and the standard helpers that import on a caller's behalf, from the code that
asked for an import.

Code objects, not file names, identify the guard's frames: whichever module of this
package a function lives in, its code object is in ``_GUARD_CODES`` or ``_LOADER_CODES``.
"""

from __future__ import annotations

import importlib
import types
from typing import Final

from taskguard._hook.importing import (
    _guarded_import,
    _make_import,
    _make_import_module,
    _make_main_import,
    _make_resolve_name,
    _make_run_module,
)
from taskguard._hook.loaders import _create, _exec


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
