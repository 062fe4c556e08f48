"""Adoption: guard the first-party modules another import hook loads in front of the finder.

Another import hook placed in front of the finder (typeguard's install_import_hook, an
APM agent, a reloader) finds first-party modules before the finder is asked, so their
loader is never wrapped. Every source loader ends in the builtin ``exec(code,
module.__dict__)``, which raises the audit event ``exec`` before the code runs (and after
``exec`` itself filled in a missing ``__builtins__``): there, a first-party module still
holding the real builtins gets its guarded ones, whichever finder and loader brought it.
An audit hook cannot be removed; with no guard active it returns at once.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from collections.abc import Callable
from typing import Any, Final

from taskguard._hook import importing
from taskguard._hook.importing import _make_import, _plain
from taskguard._hook.loaders import _own_exec
from taskguard._hook.overlay import _GuardedBuiltins, _Overlay

_bootstrap: Final[Any] = importlib._bootstrap  # taskguard: ignore[TG003] -- its frames
# The loader's own call: ``_call_with_frames_removed(exec, code, module.__dict__)``.
_EXEC_TRAMPOLINE: Final = _bootstrap._call_with_frames_removed.__code__
# The import system's frames that hold the module being executed (``module``): a loader
# calling ``exec`` itself, with the namespace in an expression, is found through them.
_LOADING_CODES: Final = frozenset({_bootstrap._load_unlocked.__code__, _bootstrap._exec.__code__})
# A legacy loader (``load_module()`` only) is called here with the ``spec``; it puts the
# module in ``sys.modules`` before running its code, as the protocol requires.
_LEGACY_CODE: Final = _bootstrap._load_backward_compatible.__code__
# 3.12+: the module name of a caller's frame, without making a frame object.
_caller_module: Final[Callable[[int], str | None] | None] = getattr(
    sys, "_getframemodulename", None
)
# The modules of the frames that call exec for a module run by hand: the loader's own
# _call_with_frames_removed, and runpy._run_code.
_EXEC_CALLERS: Final = frozenset({"importlib._bootstrap", "runpy"})
_watching = False


class _ExecWatch:
    """The audit hook: ``functools.partial(getattr, _ExecWatch())`` is called with
    ``(event, args)`` as ``getattr(watch, event, args)``, all in C, so the events that are
    not ``exec`` (``open``, ``id()``...) cost no Python frame; ``exec`` is the property
    below, which reads what it needs from the frame that called ``exec``."""

    __slots__ = ()

    @property
    def exec(self) -> None:
        guard = importing._active
        if guard is None:
            return
        meta_path = sys.meta_path
        if meta_path and meta_path[0] is guard._finder and not guard._unguardable:
            # Every spec the import system searched went through the finder, which
            # guarded its loader (the usual case: a hook that got in front is put back
            # behind it by install(), the plugin and the bootstrap). What is left calls
            # exec itself: a spec's loader run by hand (module_from_spec + exec_module)
            # and runpy.run_module(). A legacy loader the finder could not wrap is in
            # guard._unguardable: from then on every exec is looked at. No frame object
            # is made on the usual paths (on 3.11+ one makes every frame below it one).
            if _own_exec.__dict__.get("pending"):
                _own_exec.pending = False  # a guarded loader's own exec
                return
            if _caller_module is not None and _caller_module(1) not in _EXEC_CALLERS:
                return
            caller = sys._getframe().f_back
            if caller is None:
                return
            code = caller.f_code
            if code is _EXEC_TRAMPOLINE or code is _run_code():
                _adopt(caller)
            return
        caller = sys._getframe().f_back  # no frames in between: the caller of exec()
        if caller is not None:  # None: exec called from C (python -c, an embedder)
            _adopt(caller)


def _watch_loads() -> None:
    """Add the audit hook, once per process (called with ``_lock`` held)."""
    global _watching
    if not _watching:
        sys.addaudithook(functools.partial(getattr, _ExecWatch()))
        _watching = True


def _run_code() -> types.CodeType | None:
    """The code of ``runpy._run_code`` (``run_module()``, ``python -m``), once runpy is
    loaded: taskguard does not import runpy for this."""
    runpy = sys.modules.get("runpy")
    run_code = getattr(runpy, "_run_code", None)
    return getattr(run_code, "__code__", None)


def _adopt(frame: types.FrameType | None) -> None:
    """Guard the first-party module a loader is about to execute (``frame`` called
    ``exec``), if it is not guarded yet."""
    namespace = None
    if frame is not None and frame.f_code is _EXEC_TRAMPOLINE:
        # The usual case, every module the import system loads: the loader's own call.
        args = frame.f_locals.get("args")
        if type(args) is tuple and len(args) >= 2 and type(args[0]) is types.CodeType:
            namespace = args[1]
            frame = None
        else:
            frame = frame.f_back
    run_code = _run_code() if frame is not None else None
    # No limit on how far up: loader wrappers nest as deep as their authors like (an APM
    # agent around typeguard around a reloader); the nearest loading frame is the module.
    while frame is not None:
        frame_code = frame.f_code
        if frame_code in _LOADING_CODES:
            namespace = getattr(frame.f_locals.get("module"), "__dict__", None)
            break
        if frame_code is _LEGACY_CODE:
            spec = frame.f_locals.get("spec")
            module = sys.modules.get(getattr(spec, "name", None))  # type: ignore[arg-type]
            namespace = getattr(module, "__dict__", None)
            break
        if frame_code is run_code:
            namespace = frame.f_locals.get("run_globals")  # __spec__ is set in it already
            break
        frame = frame.f_back
    if type(namespace) is not dict:
        return
    assert isinstance(namespace, dict)
    if isinstance(namespace.get("__builtins__"), _Overlay):
        return  # guarded already (by the finder's loader, or an earlier exec)
    spec = namespace.get("__spec__")
    name = _plain(getattr(spec, "name", None) or namespace.get("__name__"))
    guard = importing._active
    if guard is not None and isinstance(name, str) and guard._guardable(name):
        namespace["__builtins__"] = _GuardedBuiltins(__import__=_make_import(name))
