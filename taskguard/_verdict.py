"""What the decision works with besides the policy: the allow entry (a documented
exception) and the verdict ``taskguard._policy.decide`` returns for a refused import.

A module of their own so that a process that only installs the guard never creates these
classes: ``decide`` imports this module at its first refusal, and ``load_policy`` when
the table has an allow entry. Building a dataclass compiles its generated methods, which
was a third of the guard's import; both stay importable from ``taskguard._policy``.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskguard._rules import TG001, TG002


@dataclass(frozen=True)
class AllowEntry:
    """A documented exception: ``importer`` may import ``imported`` because ``reason``."""

    importer: str
    imported: str
    reason: str


@dataclass(frozen=True)
class Verdict:
    """Why ``importer`` may not import ``imported``.

    ``allowed_by`` is set when an allow entry excuses it: the import is then permitted, but
    the checker still needs to know which entry was used (TG005 reports the unused ones).
    """

    code: str
    importer: str
    imported: str
    pattern: str
    rule_pattern: str
    allowed_by: AllowEntry | None = None

    @property
    def allowed(self) -> bool:
        return self.allowed_by is not None

    @property
    def message(self) -> str:
        if self.code == TG001.code:
            return TG001.template.format(
                importer=self.importer, imported=self.imported, sanctioned=self.rule_pattern
            )
        return TG002.template.format(
            importer=self.importer, imported=self.imported, protected=self.rule_pattern
        )
