"""Installing and removing the guard, and the functions the package uses to drive it.

``install``/``uninstall`` for users; ``install_quietly``, the listeners, ``ensure_first``,
``set_mode`` and ``guard_main_module`` for the pytest plugin and the ``taskguard run``
bootstrap, which reach the guard through these functions only.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from typing import Any

from taskguard._errors import PolicyError, TaskguardError
from taskguard._hook import importing
from taskguard._hook.adopt import _watch_loads
from taskguard._hook.guard import MODES, Guard, Listener
from taskguard._hook.importing import _lock, _make_main_import, activate
from taskguard._hook.loaders import _is_namespace
from taskguard._hook.overlay import _GuardedBuiltins
from taskguard._policy import Policy, load_policy


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


def active_guard() -> Guard | None:
    """The installed guard, if any."""
    return importing._active


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
    guard = importing._active
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
    with _lock:
        current = importing._active
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
        activate(guard)
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


def escaped(guard: Guard) -> tuple[str, ...]:
    """First-party modules loaded while ``guard`` was installed that still run with the
    real builtins: a loader in front of the finder that runs their code without the
    builtin ``exec`` (``types.FunctionType(code, module.__dict__)()``, C code), a legacy
    loader that breaks its protocol, a module built from a file by hand. Their imports of
    a loaded forbidden module are not checked, so the plugin and ``taskguard run`` say
    so at the end (modules imported before the guard are ``guard.unguarded``)."""
    before = set(guard.unguarded)
    return tuple(name for name in _preloaded(guard) if name not in before)


def guard_main_module(guard: Guard, argv: list[str] | None = None) -> str | None:
    """Guard ``__main__`` when the command line is ``python -m <first-party module>``.

    Called by the ``taskguard run`` bootstrap, which runs before the main module's code.
    Returns the module name guarded, if any.
    """
    from taskguard._pyargv import parse_python_argv  # the bootstrap's only: not at install

    argv = list(getattr(sys, "orig_argv", [])) if argv is None else argv
    name = parse_python_argv(argv).module
    main = sys.modules.get("__main__")
    if name is None or main is None or not guard._guardable(name):
        return None
    namespace = main.__dict__
    namespace["__builtins__"] = _GuardedBuiltins(__import__=_make_main_import(name, namespace))
    return name
