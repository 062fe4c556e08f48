"""The guarded loaders: a first-party module gets its guarded builtins just before it runs.

The finder swaps the standard file loaders for subclasses (``_SWAPS``) and wraps any other
loader in a ``_DelegatingLoader``. The frames of ``_create`` and ``_exec`` name the module
being loaded for the finder's frame check (``Guard._frame_check``).
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from importlib.machinery import (
    ExtensionFileLoader,
    ModuleSpec,
    SourceFileLoader,
    SourcelessFileLoader,
)
from typing import Any, Final

from taskguard._hook import importing
from taskguard._hook.importing import _make_import
from taskguard._hook.overlay import _GuardedBuiltins

# Set around a guarded loader's exec_module: the audit hook (adopt) takes the next exec
# event on this thread as that module's own, guarded already, and looks at no frame.
_own_exec: Final = threading.local()


def _prepare(module: types.ModuleType, importer: str) -> None:
    if importing._active is not None:
        module.__dict__["__builtins__"] = _GuardedBuiltins(__import__=_make_import(importer))


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
    if prepare and importing._active is not None:
        _prepare(module, importer)
        _own_exec.pending = True
        try:
            exec_module(module)
        finally:
            _own_exec.pending = False
        return
    exec_module(module)


def _guarded_exec(base: Callable[[Any, types.ModuleType], None]) -> Any:
    """``base`` (a file loader's ``exec_module``) with the module's guarded builtins put in
    first, while a guard is active; one copy for the source and the bytecode loader."""

    def exec_module(self: Any, module: types.ModuleType) -> None:
        __tracebackhide__ = True
        if importing._active is not None:
            # _prepare(module, _spec_name(module)), inline: this runs for every module
            try:  # getattr(getattr(module, "__spec__", None), "name", None), no calls
                spec: Any = module.__spec__
                importer = spec.name
            except AttributeError:
                importer = None
            if not importer:
                importer = module.__name__
            if type(importer) is not str:
                importer = str(importer)
            module.__dict__["__builtins__"] = _GuardedBuiltins(__import__=_make_import(importer))
            _own_exec.pending = True
            try:
                base(self, module)
            finally:
                _own_exec.pending = False
            return
        base(self, module)

    return exec_module


class _GuardedSourceFileLoader(SourceFileLoader):
    exec_module = _guarded_exec(SourceFileLoader.exec_module)


class _GuardedSourcelessFileLoader(SourcelessFileLoader):
    exec_module = _guarded_exec(SourcelessFileLoader.exec_module)


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
