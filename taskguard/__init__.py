"""taskguard: one sanctioned path for background-task dispatch; every other path fails loudly."""

from taskguard._errors import ForbiddenImportError, PolicyError, TaskguardError
from taskguard._hook import Guard, UnguardedModuleWarning, install, uninstall
from taskguard._policy import AllowEntry, Policy, Verdict, decide, load_policy
from taskguard._rules import RULES, Rule, Violation
from taskguard._static import CheckResult, check

__version__ = "0.1.0"

__all__ = [  # noqa: RUF022 - plain sorted() order, pinned by tests/taskguard/test_public_api.py
    "AllowEntry",
    "CheckResult",
    "ForbiddenImportError",
    "Guard",
    "Policy",
    "PolicyError",
    "RULES",
    "Rule",
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
