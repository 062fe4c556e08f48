"""Rule codes, their message templates, and the violation record every enforcer returns."""

from __future__ import annotations

from dataclasses import dataclass

# Not ``from typing import TYPE_CHECKING``: importing typing is a measurable part of a cached
# check. Type checkers treat any ``TYPE_CHECKING`` name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

HINT: Final = "use dispatch.enqueue_http_task() to dispatch background work"


@dataclass(frozen=True)
class Rule:
    """A rule code, its short name, a one-line summary and its message template."""

    code: str
    name: str
    summary: str
    template: str


TG001: Final = Rule(
    "TG001",
    "dispatch-library-outside-sanctioned",
    "a dispatch library imported outside the sanctioned modules",
    "{importer} imports dispatch library {imported}; only {sanctioned} may",
)
TG002: Final = Rule(
    "TG002",
    "forbidden-import-in-protected",
    "a forbidden library imported inside a protected package",
    "{importer} (protected by {protected}) imports forbidden {imported}",
)
TG003: Final = Rule(
    "TG003",
    "dynamic-import-in-protected",
    "a dynamic import inside a protected package cannot be verified statically",
    "{importer} (protected by {protected}) uses {construct}; the import cannot be verified",
)
TG004: Final = Rule(
    "TG004",
    "indirect-forbidden-import",
    "a protected module reaches a forbidden module through first-party imports",
    "{importer} reaches forbidden {imported} through {chain}",
)
TG005: Final = Rule(
    "TG005",
    "stale-allow",
    "an allow entry, inline suppression or baseline entry that matched nothing",
    "{what} matched nothing; remove it",
)
TG900: Final = Rule(
    "TG900",
    "unreadable-file",
    "a file that could not be read or parsed",
    "could not {action} {path}: {error}",
)

RULES: Final[dict[str, Rule]] = {
    rule.code: rule for rule in (TG001, TG002, TG003, TG004, TG005, TG900)
}


@dataclass(frozen=True, order=True)
class Violation:
    """One finding. ``path``/``line``/``column`` locate the statement (column is 1-based).

    ``imported`` is the full dotted name imported, or ``None`` where no name is known
    (TG003, TG900). ``chain`` is the first-party import chain for TG004. Violations order
    by their fields in this order, so a sorted list reads file by file, line by line.
    """

    path: str
    line: int
    column: int
    code: str
    importer: str | None
    imported: str | None
    message: str
    chain: tuple[str, ...] = ()

    def _asdict(self) -> dict[str, Any]:
        # Shallow, unlike dataclasses.asdict(): the fields are str, int, None or a tuple of str.
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "importer": self.importer,
            "imported": self.imported,
            "message": self.message,
            "chain": self.chain,
        }
