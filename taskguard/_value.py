"""``repr``, ``==`` and ``hash`` for taskguard's frozen dataclasses, written once instead of
generated.

``@dataclass`` compiles every method it generates from source text, at every import: about
a million instructions a method on CPython 3.11, and the runtime guard needs its records
(Policy, Verdict, Rule) before any user code runs, so the pytest plugin paid for them at
every start-up. A class decorated ``@dataclass(frozen=True, repr=False, eq=False)`` that
inherits :class:`Value` gets these methods from here instead, with the generated semantics:
the fields' ``repr``/``compare``/``hash`` flags are honoured, and another class (a subclass
too) compares as ``NotImplemented``. tests/taskguard/test_value.py pins every such class to
a twin the decorator generates. ``Violation`` keeps its generated methods: the checker
sorts and hashes violations by the thousand, and generic getters sort about twice as slow.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter, eq

# Not ``from typing import ...``: ``taskguard check`` does not import typing at all.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Getter = Callable[[Any], tuple[Any, ...]]


def _getter(names: list[str]) -> Getter:
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    # attrgetter of two or more names returns the tuple of their values; of one, the value
    return attrgetter(*names) if names else (lambda obj: ())


class _Shape:
    """What the methods of one class read, worked out from its fields at first use: the
    names ``repr`` shows, the getters of the compared and of the hashed values."""

    __slots__ = ("compared", "hashed", "owner", "shown")

    def __init__(self, cls: type | None) -> None:
        found = fields(cls) if cls is not None else ()
        self.owner = cls
        self.shown = tuple(f.name for f in found if f.repr)
        self.compared = _getter([f.name for f in found if f.compare])
        self.hashed = _getter([f.name for f in found if (f.compare if f.hash is None else f.hash)])


def _shape(cls: type) -> _Shape:
    # Kept on the class itself (a class attribute read is cached by CPython; the methods
    # below are as fast as generated ones), and only for that class: a subclass, with
    # perhaps more fields, gets its own.
    shape: _Shape = getattr(cls, "_value_shape")  # noqa: B009 - a class attribute of Value
    if shape.owner is not cls:
        shape = _Shape(cls)
        type.__setattr__(cls, "_value_shape", shape)
    return shape


def _compare(op: Callable[[Any, Any], Any]) -> Callable[[Any, object], Any]:
    """A comparison method: ``op`` of the compared fields' values, for the same class only."""

    def compare(self: Any, other: object) -> Any:
        cls = type(self)
        shape = cls._value_shape
        if other.__class__ is not cls:
            return NotImplemented
        if shape.owner is not cls:
            shape = _shape(cls)
        values = shape.compared
        return op(values(self), values(other))

    compare.__name__ = compare.__qualname__ = f"__{op.__name__}__"
    return compare


class Value:
    """``__repr__``, ``__eq__`` and ``__hash__`` of ``@dataclass(frozen=True)``."""

    __slots__ = ()
    _value_shape = _Shape(None)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _shape(type(self)).shown)
        return f"{type(self).__qualname__}({shown})"

    __eq__ = _compare(eq)

    def __hash__(self) -> int:
        cls = type(self)
        shape = cls._value_shape
        if shape.owner is not cls:
            shape = _shape(cls)
        return hash(shape.hashed(self))
