"""The verdict ``taskguard._policy.decide`` returns for a refused import (``taskguard._policy``
re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass

from taskguard._rules import TG001, TG002

# Not ``from typing import TYPE_CHECKING``: ``taskguard check`` does not import typing at all.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from taskguard._allow import AllowEntry


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
