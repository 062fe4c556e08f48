"""The guarded builtins: a namespace seen through a few guarded names of its own.

A guarded module executes with a ``_GuardedBuiltins`` mapping as its ``__builtins__``: its
own ``__import__``, the live builtins for every other name. ``_overlay_of`` makes the same
kind of mapping over any namespace (a module view's ``__dict__``).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any, ClassVar, Final

_REAL_BUILTINS: Final[dict[str, Any]] = builtins.__dict__


class _Overlay(dict[str, Any]):
    """A namespace seen through a few guarded names of its own.

    The guarded names are the dict's own items; any other key falls through to the real
    namespace (``_real``) at lookup time, so later changes to it (``mock.patch``,
    ``monkeypatch.setattr``) stay visible. ``__missing__`` is the real dict's own C
    ``__getitem__`` (a builtin method has no ``__get__``, so CPython calls it with the key
    alone): a fall-through runs no Python code. Introspection sees the merged mapping, and
    every write goes to the real namespace, exactly as it would without the guard: code
    that writes through ``__builtins__[...]`` means the process-wide builtins, and cannot
    remove its own guarded ``__import__`` that way.
    """

    __slots__ = ()
    _real: ClassVar[dict[str, Any]]

    def _merged(self) -> dict[str, Any]:
        merged = dict(self._real)
        merged.update(dict.items(self))
        return merged

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._real

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged())

    def __len__(self) -> int:
        return len(self._merged())

    def __eq__(self, other: object) -> bool:
        return self._merged() == other

    def __ne__(self, other: object) -> bool:
        return self._merged() != other

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._merged())

    def keys(self) -> Any:
        return self._merged().keys()

    def values(self) -> Any:
        return self._merged().values()

    def items(self) -> Any:
        return self._merged().items()

    def copy(self) -> dict[str, Any]:
        return self._merged()

    def __or__(self, other: Any) -> Any:
        return self._merged() | other

    def __ror__(self, other: Any) -> Any:
        return other | self._merged()

    def __setitem__(self, key: str, value: Any) -> None:
        self._real[key] = value

    def __delitem__(self, key: str) -> None:
        del self._real[key]

    def __ior__(self, other: Any) -> Any:
        self._real.update(other)
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._real.update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        return self._real.setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        return self._real.pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        return self._real.popitem()

    def clear(self) -> None:
        self._real.clear()

    def __reduce__(self) -> Any:
        return (dict, (self._merged(),))


class _GuardedBuiltins(_Overlay):
    """A guarded module's builtins: its own ``__import__``, the live builtins otherwise.

    See docs/runtime-guard.md for what the fall-through costs against an exact dict.
    """

    __slots__ = ()
    _real = _REAL_BUILTINS
    __missing__ = _REAL_BUILTINS.__getitem__


_overlays: dict[int, type[_Overlay]] = {id(_REAL_BUILTINS): _GuardedBuiltins}


def _overlay_of(namespace: dict[str, Any]) -> type[_Overlay]:
    cls = _overlays.get(id(namespace))
    if cls is None or cls._real is not namespace:
        attrs = {"__slots__": (), "_real": namespace, "__missing__": namespace.__getitem__}
        cls = _overlays[id(namespace)] = type("_GuardedNamespace", (_Overlay,), attrs)
    return cls
