"""Rule codes, their message templates, and the violation record every enforcer returns.

``Rule`` and ``Violation`` are hand-written immutable values rather than dataclasses:
``taskguard check`` imports this module on every run, and generating dataclasses (with the
``inspect`` module they pull in) cost a fifth of a cached check of a large project.
"""

from __future__ import annotations

# Not ``from typing import TYPE_CHECKING``: importing typing is a measurable part of a cached
# check. Type checkers treat any ``TYPE_CHECKING`` name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, Final

HINT: Final = "use dispatch.enqueue_http_task() to dispatch background work"


class _Value:
    """An immutable record: equality, hash, repr and pickling come from ``_fields``."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._fields])

    def _asdict(self) -> dict[str, Any]:
        """The fields by name, in their declared order (what ``dataclasses.asdict`` gave)."""
        return {name: getattr(self, name) for name in self._fields}

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(
            f"cannot assign to field {name!r} of an immutable {type(self).__name__}"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of an immutable {type(self).__name__}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Value)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._values())


class Rule(_Value):
    """A rule code, its short name, a one-line summary and its message template."""

    __slots__ = ("code", "name", "summary", "template")
    _fields = ("code", "name", "summary", "template")
    __match_args__ = ("code", "name", "summary", "template")
    code: str
    name: str
    summary: str
    template: str

    def __init__(self, code: str, name: str, summary: str, template: str) -> None:
        set_ = object.__setattr__
        set_(self, "code", code)
        set_(self, "name", name)
        set_(self, "summary", summary)
        set_(self, "template", template)


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
    "an allow entry or inline suppression that matched nothing",
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


class Violation(_Value):
    """One finding. ``path``/``line``/``column`` locate the statement (column is 1-based).

    ``imported`` is the full dotted name imported, or ``None`` where no name is known
    (TG003, TG900). ``chain`` is the first-party import chain for TG004.

    Violations compare, order and hash by their fields in this order, like the frozen,
    ordered dataclass this used to be.
    """

    __slots__ = ("chain", "code", "column", "imported", "importer", "line", "message", "path")
    _fields = ("path", "line", "column", "code", "importer", "imported", "message", "chain")
    __match_args__ = ("path", "line", "column", "code", "importer", "imported", "message", "chain")
    path: str
    line: int
    column: int
    code: str
    importer: str | None
    imported: str | None
    message: str
    chain: tuple[str, ...]

    def __init__(  # noqa: PLR0917 - the field order is the public constructor
        self,
        path: str,
        line: int,
        column: int,
        code: str,
        importer: str | None,
        imported: str | None,
        message: str,
        chain: tuple[str, ...] = (),
    ) -> None:
        set_ = object.__setattr__
        set_(self, "path", path)
        set_(self, "line", line)
        set_(self, "column", column)
        set_(self, "code", code)
        set_(self, "importer", importer)
        set_(self, "imported", imported)
        set_(self, "message", message)
        set_(self, "chain", chain)

    def __lt__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Violation)
        return self._values() < other._values()

    def __le__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Violation)
        return self._values() <= other._values()

    def __gt__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Violation)
        return self._values() > other._values()

    def __ge__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Violation)
        return self._values() >= other._values()
