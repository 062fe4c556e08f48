"""``repr``, ``==`` and ``hash`` (and ordering) for taskguard's frozen dataclasses, written
once instead of generated.

``@dataclass`` compiles every method it generates from source text, at every import: about
a million instructions a method on CPython 3.11, and the runtime guard needs its record
classes (Policy, Verdict, Rule, Violation) before any user code runs, so the pytest plugin
paid for them at every start-up. A class decorated ``@dataclass(frozen=True, repr=False,
eq=False)`` that inherits :class:`Value` (or :class:`OrderedValue` in place of
``order=True``) gets these methods from here instead, with the generated semantics: the
fields' ``repr``/``compare``/``hash`` flags are honoured, and another class (a subclass
too) compares as ``NotImplemented``. tests/taskguard/test_value.py pins every such class to
a twin the decorator generates.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter, eq, ge, gt, le, lt

# Not ``from typing import ...``: ``taskguard check`` does not import typing at all.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Getter = Callable[[Any], tuple[Any, ...]]

# per class: the names repr shows, the getter of the compared values, of the hashed values
_SHAPES: dict[type, tuple[tuple[str, ...], Getter, Getter]] = {}


def _getter(names: list[str]) -> Getter:
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    # attrgetter of two or more names returns the tuple of their values; of one, the value
    return attrgetter(*names) if names else (lambda obj: ())


def _shape(cls: type) -> tuple[tuple[str, ...], Getter, Getter]:
    shape = _SHAPES.get(cls)
    if shape is None:
        found = fields(cls)
        compared = [f.name for f in found if f.compare]
        hashed = [f.name for f in found if (f.compare if f.hash is None else f.hash)]
        shape = (tuple(f.name for f in found if f.repr), _getter(compared), _getter(hashed))
        _SHAPES[cls] = shape
    return shape


def _compare(op: Callable[[Any, Any], Any]) -> Callable[[Any, object], Any]:
    """A comparison method: ``op`` of the compared fields' values, for the same class only."""

    def compare(self: Any, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        values = _shape(type(self))[1]
        return op(values(self), values(other))

    compare.__name__ = compare.__qualname__ = f"__{op.__name__}__"
    return compare


class Value:
    """``__repr__``, ``__eq__`` and ``__hash__`` of ``@dataclass(frozen=True)``."""

    __slots__ = ()

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _shape(type(self))[0])
        return f"{type(self).__qualname__}({shown})"

    __eq__ = _compare(eq)

    def __hash__(self) -> int:
        return hash(_shape(type(self))[2](self))


class OrderedValue(Value):
    """:class:`Value` with the ordering of ``@dataclass(frozen=True, order=True)``: by the
    compared fields, in their order, between instances of the same class only."""

    __slots__ = ()
    __lt__ = _compare(lt)
    __le__ = _compare(le)
    __gt__ = _compare(gt)
    __ge__ = _compare(ge)
