"""Which binding a name refers to, by Python's scoping rules, in one iterative walk.

The analysis resolves a few names itself: the builtins that import or run code (``eval``,
``exec``, ``compile``, ``__import__``, ``getattr``...), names a star import binds, and the
names ``if TYPE_CHECKING:`` tests. A name bound in a function (a parameter, a nested
``def``, an assignment, an import, a loop or ``with`` target), a lambda, a comprehension or a
class body is local there, for the whole of that scope: ``def f(eval): eval(x)`` calls no
builtin. Python decides this statically, and so does :func:`scan`:

- a function's (or lambda's) locals are its parameters and every name bound in its body,
  except those it declares ``global`` or ``nonlocal``;
- a class body's names are visible to the class body only, not to the functions in it;
- a comprehension's targets are its own (its first iterable is evaluated outside it), but an
  assignment expression in it binds in the enclosing function;
- names bound at module level, or declared ``global`` and bound in a function, are the
  module's: they hide a builtin everywhere.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
# The ``typing`` modules whose ``TYPE_CHECKING`` is False at run time.
TYPING_MODULES = frozenset({"typing", "typing_extensions"})

# How a name is bound, for TYPE_CHECKING (see Bindings.type_checking_names).
_FLAG = "flag"  # from typing import TYPE_CHECKING [as name], or TYPE_CHECKING = False
_TYPING = "typing"  # import typing [as name], import typing_extensions [as name]


_MODULE = "module"
_FUNCTION = "function"  # a def or a lambda
_CLASS = "class"
_COMPREHENSION = "comprehension"


class _Scope:
    __slots__ = ("bound", "globals", "kind", "nonlocals", "parent")

    def __init__(self, parent: _Scope | None, kind: str) -> None:
        self.parent = parent
        self.kind = kind
        self.bound: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()


class Bindings:
    """The result of :func:`scan`."""

    __slots__ = ("_counts", "_kinds", "local_refs", "module_bound")

    def __init__(self) -> None:
        self.module_bound: set[str] = set()
        # id() of every Name node (of a name of interest) read where a function, lambda,
        # comprehension or class scope binds it: neither a module global nor a builtin.
        self.local_refs: set[int] = set()
        self._counts: dict[str, int] = {}  # every binding of every name, in any scope
        self._kinds: dict[str, dict[str, int]] = {}  # the special ones among them

    def _count(self, name: str, kind: str | None) -> None:
        self._counts[name] = self._counts.get(name, 0) + 1
        if kind is not None:
            kinds = self._kinds.setdefault(name, {})
            kinds[kind] = kinds.get(kind, 0) + 1

    def only(self, kind: str) -> frozenset[str]:
        """The names every binding of which, anywhere in the file, is of ``kind``."""
        return frozenset(
            name
            for name, kinds in self._kinds.items()
            if kinds.get(kind, 0) == self._counts.get(name, 0)
        )

    def type_checking_names(self) -> frozenset[str]:
        """Names bound only to ``typing.TYPE_CHECKING`` (or its ``typing_extensions`` twin,
        or ``TYPE_CHECKING = False``, the idiom for not importing typing at all)."""
        return self.only(_FLAG)

    def typing_names(self) -> frozenset[str]:
        """Names bound only to the ``typing`` or ``typing_extensions`` module."""
        return self.only(_TYPING)


def _targets(node: ast.AST | None, out: list[ast.Name]) -> None:
    """The names an assignment target binds (tuples, lists and starred items unpacked)."""
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, ast.Name):
            out.append(item)
        elif isinstance(item, (ast.Tuple, ast.List)):
            pending.extend(item.elts)
        elif isinstance(item, ast.Starred):
            pending.append(item.value)


def _parameters(arguments: ast.arguments) -> Iterable[str]:
    for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
        yield arg.arg
    if arguments.vararg is not None:
        yield arguments.vararg.arg
    if arguments.kwarg is not None:
        yield arguments.kwarg.arg


def _import_kind(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> str | None:
    if isinstance(node, ast.ImportFrom):
        if not node.level and node.module in TYPING_MODULES and alias.name == "TYPE_CHECKING":
            return _FLAG
        return None
    if alias.asname is None:
        # ``import typing.x`` binds ``typing`` to the typing module too.
        return _TYPING if alias.name.partition(".")[0] in TYPING_MODULES else None
    return _TYPING if alias.name in TYPING_MODULES else None


def scan(tree: ast.Module, interest: frozenset[str]) -> Bindings:
    """Every binding of the module, and which reads of the names in ``interest`` are local.

    One iterative walk (any depth the parser accepts); each scope's bindings are collected
    first and the reads resolved at the end, as Python does.
    """
    out = Bindings()
    module = _Scope(None, _MODULE)
    scopes = [module]
    reads: list[tuple[ast.Name, _Scope]] = []
    stack: list[tuple[ast.AST, _Scope]] = [(tree, module)]

    def bind(scope: _Scope, name: str, kind: str | None = None) -> None:
        scope.bound.add(name)
        out._count(name, kind)

    while stack:
        node, scope = stack.pop()
        kind = type(node)
        if kind is ast.Name:
            assert isinstance(node, ast.Name)
            if type(node.ctx) is ast.Load:
                if node.id in interest:
                    reads.append((node, scope))
            else:
                bind(scope, node.id)
            continue
        if kind in _FUNCTIONS or kind is ast.Lambda:
            function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda = node  # type: ignore[assignment]
            inner = _Scope(scope, _FUNCTION)
            scopes.append(inner)
            for name in _parameters(function.args):
                bind(inner, name)
            args = function.args
            outside: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d)]
            if kind is ast.Lambda:
                stack.append((function.body, inner))  # type: ignore[arg-type]
            else:
                assert not isinstance(function, ast.Lambda)
                bind(scope, function.name)
                outside += function.decorator_list
                outside += [a.annotation for a in _all_args(args) if a.annotation is not None]
                if function.returns is not None:
                    outside.append(function.returns)
                stack.extend((statement, inner) for statement in reversed(function.body))
            stack.extend((item, scope) for item in reversed(outside))
            continue
        if kind is ast.ClassDef:
            assert isinstance(node, ast.ClassDef)
            bind(scope, node.name)
            body = _Scope(scope, _CLASS)
            stack.extend((statement, body) for statement in reversed(node.body))
            outside = [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
            stack.extend((item, scope) for item in reversed(outside))
            continue
        if kind in _COMPREHENSIONS:
            generators = node.generators  # type: ignore[attr-defined]
            inner = _Scope(scope, _COMPREHENSION)
            stack.append((generators[0].iter, scope))
            for i, generator in enumerate(generators):
                names: list[ast.Name] = []
                _targets(generator.target, names)
                for name_node in names:
                    bind(inner, name_node.id)
                if i:
                    stack.append((generator.iter, inner))
                stack.extend((test, inner) for test in generator.ifs)
            if kind is ast.DictComp:
                stack.append((node.key, inner))  # type: ignore[attr-defined]
                stack.append((node.value, inner))  # type: ignore[attr-defined]
            else:
                stack.append((node.elt, inner))  # type: ignore[attr-defined]
            continue
        if kind is ast.NamedExpr:
            assert isinstance(node, ast.NamedExpr)
            owner = scope
            while owner.kind == _COMPREHENSION and owner.parent is not None:
                # A comprehension's walrus binds in the enclosing function (or module).
                owner = owner.parent
            bind(owner, node.target.id)
            stack.append((node.value, scope))
            continue
        if kind is ast.Import or kind is ast.ImportFrom:
            assert isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names:
                if alias.name == "*":
                    if isinstance(node, ast.ImportFrom) and node.module in TYPING_MODULES:
                        bind(scope, "TYPE_CHECKING", _FLAG)
                    continue
                bound = alias.asname or alias.name.partition(".")[0]
                bind(scope, bound, _import_kind(node, alias))
            continue
        if kind is ast.Global:
            scope.globals.update(node.names)  # type: ignore[attr-defined]
            continue
        if kind is ast.Nonlocal:
            scope.nonlocals.update(node.names)  # type: ignore[attr-defined]
            continue
        if kind is ast.Assign:
            assert isinstance(node, ast.Assign)
            value = node.value
            if (
                len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "TYPE_CHECKING"
                and isinstance(value, ast.Constant)
                and value.value is False
            ):
                bind(scope, "TYPE_CHECKING", _FLAG)
                continue
        elif kind is ast.ExceptHandler or kind is ast.MatchAs or kind is ast.MatchStar:
            name = node.name  # type: ignore[attr-defined]
            if name:
                bind(scope, name)
        elif kind is ast.MatchMapping:
            rest = node.rest  # type: ignore[attr-defined]
            if rest:
                bind(scope, rest)
        stack.extend((child, scope) for child in reversed(list(ast.iter_child_nodes(node))))
    out.module_bound = set(module.bound)
    for scope in scopes:
        # ``global name`` and a binding in a function bind the module's name.
        out.module_bound.update(scope.bound & scope.globals)
    for read, scope in reads:
        if _is_local(read.id, scope):
            out.local_refs.add(id(read))
    return out


def _all_args(arguments: ast.arguments) -> list[ast.arg]:
    found = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    found += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
    return found


def _is_local(name: str, scope: _Scope) -> bool:
    """Whether a read of ``name`` in ``scope`` finds a binding before the module's.

    A class body's names are seen from the class body only, never from the scopes nested
    in it.
    """
    current: _Scope | None = scope
    while current is not None and current.kind != _MODULE:
        if current.kind != _CLASS or current is scope:
            if name in current.globals:
                return False
            if name in current.nonlocals or name in current.bound:
                return True
        current = current.parent
    return False
