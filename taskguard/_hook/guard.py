"""The guard: the one object that decides, records and reports.

``Guard`` holds the policy, the mode, the violations seen and the per-name memos; the
guarded functions (``importing``), the finder and the adoption hook ask the active guard
(``importing._active``), and every verdict of ``taskguard._policy.decide`` that refuses an
import becomes a recorded ``Violation`` here, before anything is raised.
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from taskguard._errors import ForbiddenImportError, PolicyError
from taskguard._hook import importing
from taskguard._hook.finder import _GuardFinder, _remove_finder
from taskguard._hook.frames import (
    _GUARD_CODES,
    _LOADER_CODES,
    _RESOLVER_FILES,
    _frame_module,
    _origin_of,
)
from taskguard._hook.importing import _clean_names, _lock, _plain, deactivate
from taskguard._hook.report import _log
from taskguard._imports import (
    could_be_refused,
    heads,
    import_candidates,
    refusable_heads,
    resolve_import_module,
    resolve_relative,
)
from taskguard._policy import Policy, Verdict, decide, matches, pattern_problem
from taskguard._rules import Violation

MODES: Final = ("error", "warn")

# Called with every violation (before anything is raised) and the error about to be raised
# (``None`` in warn mode).
Listener = Callable[[Violation, "ForbiddenImportError | None"], None]
# How clean an import form is: refused (or not decidable), clean for this importer only,
# clean whoever imports it.
_DIRTY, _CLEAN_HERE, _CLEAN_FOR_ANYONE = 0, 1, 2


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
        return importing._active is self

    @property
    def violations(self) -> tuple[Violation, ...]:
        with self._lock:
            return tuple(self._violations)

    @property
    def protected(self) -> tuple[str, ...]:
        return self.policy.protected

    def uninstall(self) -> None:
        """Remove the finder from ``sys.meta_path``; guarded modules stop checking."""
        with _lock:
            _remove_finder(self._finder)
            deactivate(self)

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
            if importing._active is not self or (
                sys.meta_path and sys.meta_path[0] is self._finder
            ):
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


def _caller_frame() -> types.FrameType:
    """The frame of the code that asked for the import: the first one that is not ours."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code in _INTERNAL_CODES:
        frame = frame.f_back
    return frame


_INTERNAL_CODES: Final = _GUARD_CODES | {
    Guard._verify.__code__,
    Guard._check_import.__code__,
    Guard._check_dynamic.__code__,
    Guard._check_by_name.__code__,
    Guard._check_star.__code__,
    _caller_frame.__code__,
}
