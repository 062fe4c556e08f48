"""The runtime guard: a ``sys.meta_path`` finder and per-module builtins.

Nothing global is patched. The one global change is a finder at ``sys.meta_path[0]``. It
handles first-party names only: it finds their spec through the finders after it and
wraps the loader, so that just before a first-party module executes, its namespace gets
its own builtins mapping whose ``__import__`` is bound to that module's name. Every
function, class body, generator, thread target and ``exec``/``eval`` of that module reads
its builtins from there (functions capture them when they are created), so every import
the module runs is checked, even when the target is already in ``sys.modules``.

One concern per module, each importing only the ones below it (the layers contract in
pyproject.toml):

    api         install(), uninstall() and the functions the plugin and bootstrap use
    guard       Guard: decides, records, reports each violation
    adopt       the audit hook that guards modules another import hook loads first
    finder      the sys.meta_path finder
    frames      the guard's own code objects and the by-name resolvers' files
    report      the warn-mode log line, describe(), BlockedImportReporter
    loaders     the guarded loaders
    importing   the guarded __import__ (fast path, slow path, caches), the module views,
                and the active guard (``importing._active``)
    overlay     the guarded builtins mapping

Stdlib only at import time: ``structlog`` is imported lazily, in ``warn`` mode, so the
guard runs in any interpreter that can import ``taskguard``.
"""

from typing import TYPE_CHECKING

from taskguard._hook.api import (
    UnguardedModuleWarning,
    active_guard,
    add_listener,
    ensure_first,
    escaped,
    guard_main_module,
    install,
    install_quietly,
    remove_listener,
    set_mode,
    uninstall,
)
from taskguard._hook.guard import Guard
from taskguard._hook.report import EVENT, BlockedImportReporter, describe, write_stderr

__all__ = [
    "EVENT",
    "BlockedImportReporter",
    "Guard",
    "UnguardedModuleWarning",
    "active_guard",
    "add_listener",
    "describe",
    "ensure_first",
    "escaped",
    "guard_main_module",
    "install",
    "install_quietly",
    "remove_listener",
    "set_mode",
    "uninstall",
    "write_stderr",
]

if not TYPE_CHECKING:  # for type checkers, every other name of this module is an error

    def __getattr__(name: str) -> object:
        # The active guard, read live: ``importing`` rebinds it, so a copy here would go
        # stale. Tools and older tests read ``taskguard._hook._active``.
        if name == "_active":
            from taskguard._hook import importing

            return importing._active
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
