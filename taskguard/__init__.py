"""taskguard: one sanctioned path for background-task dispatch; every other path fails loudly.

PYTEST_DONT_REWRITE: under ``taskguard run`` this package is imported at interpreter start
(the bootstrap installs the guard), before pytest could rewrite it; this marker tells
pytest not to warn about that (``filterwarnings = error`` would stop the run).
"""

# Not ``from typing import TYPE_CHECKING``: ``taskguard check`` does not import typing at all.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from taskguard._allow import AllowEntry
    from taskguard._errors import (
        BaselineError,
        ForbiddenImportError,
        PolicyError,
        RuleSelectionError,
        TaskguardError,
    )
    from taskguard._hook import Guard, UnguardedModuleWarning, install, uninstall
    from taskguard._policy import Policy, decide, load_policy
    from taskguard._rules import RULES, Rule, Violation
    from taskguard._static import CheckResult, check
    from taskguard._verdict import Verdict
    from taskguard._version import __version__

# Every public name is imported on first use (PEP 562): importing the package costs nothing,
# so the console script can replay a memoised check (``taskguard._memo``) without loading
# the policy (dataclasses, inspect, re, pathlib), the runtime guard or the checker, and a
# pytest run that only installs the guard loads nothing of the checker.
_HOMES = {
    "AllowEntry": "_allow",
    "BaselineError": "_errors",
    "CheckResult": "_static",
    "ForbiddenImportError": "_errors",
    "Guard": "_hook",
    "Policy": "_policy",
    "PolicyError": "_errors",
    "RULES": "_rules",
    "Rule": "_rules",
    "RuleSelectionError": "_errors",
    "TaskguardError": "_errors",
    "UnguardedModuleWarning": "_hook",
    "Verdict": "_verdict",
    "Violation": "_rules",
    "__version__": "_version",
    "check": "_static",
    "decide": "_policy",
    "install": "_hook",
    "load_policy": "_policy",
    "uninstall": "_hook",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # ``__import__`` with a fromlist returns the submodule itself, and needs no importlib.
    module = __import__(f"{__name__}.{home}", fromlist=[name])  # taskguard: ignore[TG003] -- ours
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [  # noqa: RUF022 - plain sorted() order, pinned by tests/taskguard/test_public_api.py
    "AllowEntry",
    "BaselineError",
    "CheckResult",
    "ForbiddenImportError",
    "Guard",
    "Policy",
    "PolicyError",
    "RULES",
    "Rule",
    "RuleSelectionError",
    "TaskguardError",
    "UnguardedModuleWarning",
    "Verdict",
    "Violation",
    "__version__",
    "check",
    "decide",
    "install",
    "load_policy",
    "uninstall",
]
