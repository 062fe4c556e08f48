"""Writes to a module's namespace that its bindings do not show.

``if TYPE_CHECKING:`` is recognised by what the name is bound to (``scopes``): the import
statements and assignments of the file. A module can also rebind the name through its
namespace object, which no binding shows::

    globals()["TYPE_CHECKING"] = True            # or globals().update(...), vars()[...]
    sys.modules[__name__].TYPE_CHECKING = True   # or .__dict__[...], setattr(...)
    typing.TYPE_CHECKING = True                  # before ``from typing import TYPE_CHECKING``
    exec("TYPE_CHECKING = True")

after which the block runs, and its imports with it. :func:`may_rebind` finds every such
construct in a module, conservatively (any use of the namespace other than reading it counts
as a write), so that the analysis then takes the module's ``TYPE_CHECKING`` blocks as runtime
code: fail closed. What one module does to another module's namespace is not seen here (see
TG002.md, "Limits").
"""

from __future__ import annotations

import ast
import re

# Calls that return a namespace mapping: the module's own at module level.
_NAMESPACE_CALLS = frozenset({"globals", "vars", "locals"})
# Builtins that assign names or attributes, or run code that may.
_WRITING_CALLS = frozenset({"setattr", "delattr", "exec", "eval"})
_RUNNING_CALLS = frozenset({"exec", "eval"})
# Attributes that reach a namespace mapping, or write one.
_NAMESPACE_ATTRIBUTES = frozenset({"__dict__", "modules"})
_WRITING_ATTRIBUTES = frozenset({"__setattr__", "__delattr__", "exec", "eval"})
# Methods of a mapping that only read it.
_READING_METHODS = frozenset({"get", "keys", "values", "items", "copy", "__contains__"})


# Spelled, as a whole identifier, in every construct may_rebind finds but an attribute
# assignment (see spelled()); "__setattr__" and "__delattr__" hold no other one.
_WORDS = re.compile(
    rb"(?<!\w)(?:globals|vars|locals|__dict__|modules|setattr|delattr|exec|eval"
    rb"|__setattr__|__delattr__)(?!\w)"
)


def spelled(data: bytes, names: frozenset[str]) -> bool:
    """Whether the source bytes may hold a construct :func:`may_rebind` finds: a cheap test
    that spares most modules the walk. Non-ASCII text may spell any identifier (NFKC)."""
    if not data.isascii() or _WORDS.search(data) is not None:
        return True
    return any(
        # Between the dot and the name: blanks, line continuations, comments (in brackets).
        re.search(rb"\.(?:[\s\\]|#[^\n]*)*" + re.escape(name.encode()) + rb"(?!\w)", data)
        is not None
        for name in names | {"TYPE_CHECKING"}
    )


def may_rebind(tree: ast.Module, names: frozenset[str], *, by_code: bool = True) -> bool:
    """Whether code in ``tree`` may rebind one of ``names`` (the ``TYPE_CHECKING`` names and
    ``TYPE_CHECKING`` itself) other than by a binding: through a namespace mapping it does
    not only read (``globals()``, ``vars()``, ``locals()``, ``x.__dict__``, ``sys.modules``),
    an attribute of that name it assigns or deletes, ``setattr``/``delattr``, or code it runs
    (``exec``/``eval``; not with ``by_code`` False, where those names are the question:
    ``exec = print; exec("x")`` calls the module's own ``exec``).

    Iterative: a tree nests as deep as the parser allows.
    """
    names = names | {"TYPE_CHECKING"}
    # (node, its parent, the field of the parent that holds it)
    pending: list[tuple[ast.AST, ast.AST | None, str]] = [(tree, None, "")]
    while pending:
        node, parent, field = pending.pop()
        kind = type(node)
        if kind is ast.Call:
            func = node.func  # type: ignore[attr-defined]
            called = (
                func.id
                if type(func) is ast.Name
                else func.attr
                if type(func) is ast.Attribute
                else None
            )
            if called in _WRITING_CALLS and (by_code or called not in _RUNNING_CALLS):
                return True
            if (
                type(func) is ast.Name
                and called in _NAMESPACE_CALLS
                and not _only_read(node, parent, field)
            ):
                return True
        elif kind is ast.Attribute:
            attr = node.attr  # type: ignore[attr-defined]
            ctx = type(node.ctx)  # type: ignore[attr-defined]
            if ctx is not ast.Load and attr in names:
                return True  # module.TYPE_CHECKING = True, del typing.TYPE_CHECKING
            if attr in _WRITING_ATTRIBUTES:
                return True
            if attr in _NAMESPACE_ATTRIBUTES and (
                ctx is not ast.Load or not _only_read(node, parent, field)
            ):
                return True
        for child_field, value in ast.iter_fields(node):
            if isinstance(value, ast.AST):
                pending.append((value, node, child_field))
            elif isinstance(value, list):
                pending.extend(
                    (item, node, child_field) for item in value if isinstance(item, ast.AST)
                )
    return False


def _only_read(node: ast.AST, parent: ast.AST | None, field: str) -> bool:
    """Whether the mapping ``node`` evaluates to is only read where it stands: subscripted
    for a load, a reading method looked up on it, compared, iterated over, or measured."""
    if parent is None:
        return False
    kind = type(parent)
    if kind is ast.Subscript and field == "value":
        return type(parent.ctx) is ast.Load  # type: ignore[attr-defined]
    if kind is ast.Attribute and field == "value":
        # sys.modules[...] is read by the subscript; what is then done with the module
        # (an attribute assigned, its __dict__ written) is looked at on its own.
        return parent.attr in _READING_METHODS  # type: ignore[attr-defined]
    if kind is ast.Compare:
        return True
    if kind in (ast.For, ast.AsyncFor, ast.comprehension) and field == "iter":
        return True
    return (
        kind is ast.Call
        and field == "args"
        and type(parent.func) is ast.Name  # type: ignore[attr-defined]
        and parent.func.id == "len"  # type: ignore[attr-defined]
    )
