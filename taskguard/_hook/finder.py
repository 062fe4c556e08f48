"""The ``sys.meta_path`` finder: finds first-party modules through the finders after it
and guards their loaders; checks every first load of a name that could be refused."""

from __future__ import annotations

import _imp
import importlib.machinery
import sys
import threading
import types
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from typing import TYPE_CHECKING, Any, Final

from taskguard._hook import importing
from taskguard._hook.importing import _plain
from taskguard._hook.loaders import _SWAPS, _guard_loader, _is_namespace

if TYPE_CHECKING:
    from taskguard._hook.guard import Guard


_BuiltinImporter: Final = importlib.machinery.BuiltinImporter
_FrozenImporter: Final = importlib.machinery.FrozenImporter
# FrozenImporter.find_spec's own test: _imp.find_frozen (3.11+) answers None where it
# answers None; 3.10's asks _imp.is_frozen.
_is_frozen: Final[Callable[[str], Any]] = getattr(_imp, "find_frozen", _imp.is_frozen)
_is_builtin: Final = _imp.is_builtin
_BUILTIN_FIND: Final = getattr(_BuiltinImporter.find_spec, "__func__", None)
_FROZEN_FIND: Final = getattr(_FrozenImporter.find_spec, "__func__", None)


def _answers_none(finder: Any, fullname: str) -> bool:
    """Whether ``finder``, the standard finder of built-in or of frozen modules, answers
    None for ``fullname``: its own test of the C table, unless its ``find_spec`` is patched."""
    if finder is _BuiltinImporter:
        test, function = _is_builtin, _BUILTIN_FIND
    else:
        test, function = _is_frozen, _FROZEN_FIND
    if test(fullname):
        return False
    return getattr(getattr(finder, "find_spec", None), "__func__", None) is function


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
        if guard is not importing._active:
            return None
        if type(fullname) is not str:
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
        if guardable is None:
            parent = fullname.rpartition(".")[0]
            if parent and guard._first_party.get(parent):
                # guard._guardable()'s own first rule, inline for the usual first ask: a
                # submodule of a guardable package is guardable.
                guardable = guard._first_party[fullname] = True
            else:
                guardable = guard._guardable(fullname)
        if not guardable:
            return None
        meta_path = sys.meta_path
        spec: ModuleSpec | None = None
        if meta_path and meta_path[0] is self:
            # _ask(meta_path[1:]), inline for the usual case (this finder first).
            for finder in meta_path[1:]:
                if type(finder) is _GuardFinder:
                    continue
                # _answers_none(finder, fullname), inline: two calls saved per module
                if finder is _BuiltinImporter:
                    if (
                        not _is_builtin(fullname)
                        and getattr(getattr(finder, "find_spec", None), "__func__", None)
                        is _BUILTIN_FIND
                    ):
                        continue
                elif finder is _FrozenImporter and (
                    not _is_frozen(fullname)
                    and getattr(getattr(finder, "find_spec", None), "__func__", None)
                    is _FROZEN_FIND
                ):
                    continue
                find = getattr(finder, "find_spec", None)
                if find is not None:
                    spec = find(fullname, path, target)
                    if spec is not None:
                        break
        else:
            spec = self._find_after_self(fullname, path, target)
        if spec is None:
            return None
        loader = spec.loader
        swap = _SWAPS.get(type(loader))  # type(), as _guard_loader: __class__ can lie
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
            if type(finder) is _GuardFinder:
                continue
            # The standard finders of built-in and frozen modules (unpatched) answer None
            # for any name their C table does not hold: asked only when it does (their
            # own test, without their Python frames), the answer is the same.
            if (finder is _BuiltinImporter or finder is _FrozenImporter) and _answers_none(
                finder, fullname
            ):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec: ModuleSpec | None = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self) -> None:
        """Nothing cached here depends on the file system."""

    def __repr__(self) -> str:
        return f"<taskguard finder mode={self._guard.mode}>"


def _remove_finder(finder: _GuardFinder) -> None:
    """Take ``finder`` out of ``sys.meta_path`` by identity: ``list.remove`` compares with
    ``==``, and a proxy that wraps it (``wrapt.ObjectProxy``) compares equal to it."""
    meta_path = sys.meta_path
    if any(entry is finder for entry in meta_path):
        meta_path[:] = [entry for entry in meta_path if entry is not finder]
