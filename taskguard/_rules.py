"""Rule codes, their message templates, and the violation record every enforcer returns."""

from __future__ import annotations

from dataclasses import dataclass

from taskguard._value import Value

# Not ``from typing import TYPE_CHECKING``: importing typing is a measurable part of a cached
# check. Type checkers treat any ``TYPE_CHECKING`` name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

HINT: Final = "use dispatch.enqueue_http_task() to dispatch background work"


# repr=False, eq=False: Value gives those methods without compiling them at every import
# (see taskguard._value); the runtime guard loads this module.
@dataclass(frozen=True, repr=False, eq=False)
class Rule(Value):
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


# repr=False, eq=False, no order=True: the methods below are the generated ones written out
# (generating them compiled seven functions at every import of the guard), reading the
# fields as directly: the checker sorts and hashes violations by the thousand, where
# Value's generic getters sort ~2x slower. tests/taskguard/test_value.py pins them.
@dataclass(frozen=True, repr=False, eq=False)
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

    def _values(self) -> tuple[Any, ...]:
        return (
            self.path,
            self.line,
            self.column,
            self.code,
            self.importer,
            self.imported,
            self.message,
            self.chain,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(path={self.path!r}, line={self.line!r}, "
            f"column={self.column!r}, code={self.code!r}, importer={self.importer!r}, "
            f"imported={self.imported!r}, message={self.message!r}, chain={self.chain!r})"
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Violation):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __lt__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Violation):
            return NotImplemented
        return self._values() < other._values()

    def __le__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Violation):
            return NotImplemented
        return self._values() <= other._values()

    def __gt__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Violation):
            return NotImplemented
        return self._values() > other._values()

    def __ge__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Violation):
            return NotImplemented
        return self._values() >= other._values()

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
