"""taskguard: one sanctioned path for background-task dispatch; every other path fails loudly.

PYTEST_DONT_REWRITE: under ``taskguard run`` this package is imported at interpreter start
(the bootstrap installs the guard), before pytest could rewrite it; this marker tells
pytest not to warn about that (``filterwarnings = error`` would stop the run).
"""

from taskguard._errors import (
    BaselineError,
    ForbiddenImportError,
    PolicyError,
    RuleSelectionError,
    TaskguardError,
)
from taskguard._policy import AllowEntry, Policy, Verdict, decide, load_policy
from taskguard._rules import RULES, Rule, Violation
from taskguard._version import __version__

# Not ``from typing import TYPE_CHECKING``: ``taskguard check`` does not import typing at all.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from taskguard._hook import Guard, UnguardedModuleWarning, install, uninstall
    from taskguard._static import CheckResult, check

# The runtime guard's names are imported on first use: `taskguard check` never needs them.
_GUARD_NAMES = frozenset({"Guard", "UnguardedModuleWarning", "install", "uninstall"})
# Nor does the guard need the checker's (the pytest plugin imports it when its check item
# runs): importing the package costs a pytest run no checker start-up.
_CHECK_NAMES = frozenset({"CheckResult", "check"})


def __getattr__(name: str) -> object:
    if name in _GUARD_NAMES:
        from taskguard import _hook

        value = getattr(_hook, name)
        globals()[name] = value
        return value
    if name in _CHECK_NAMES:
        from taskguard import _static

        value = getattr(_static, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
