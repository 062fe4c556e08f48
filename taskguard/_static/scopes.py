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
  module's. Unlike a local, a module's name is looked up when it is read, and until it is
  bound the read finds the builtin: a module's binding hides a builtin only from the reads
  it surely precedes (see ``Bindings.hidden_refs``).
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

    __slots__ = ("_counts", "_kinds", "hidden_refs", "local_refs", "module_bound")

    def __init__(self) -> None:
        self.module_bound: set[str] = set()
        # id() of every Name node (of a name of interest) read where the module's own binding
        # has surely run: a top-level import, def, class or assignment of the name in an
        # earlier top-level statement (or, for a read in a function, that same one), with no
        # star import between them and no ``del`` of the name anywhere. Any other binding
        # (in a branch, a loop, a ``try``, a function declaring it ``global``, after the
        # read) may not have run: the read may find the builtin.
        self.hidden_refs: set[int] = set()
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
    reads: list[tuple[ast.Name, _Scope, int]] = []
    stack: list[tuple[ast.AST, _Scope]] = []
    sure = _sure_bindings(tree.body)
    stars: list[int] = []  # the top-level statements holding a star import
    deleted: set[str] = set()
    foreign_star = False  # a star import from a module other than typing's

    def bind(scope: _Scope, name: str, kind: str | None = None) -> None:
        scope.bound.add(name)
        out._count(name, kind)

    # One top-level statement at a time, so that every read knows which one holds it.
    for top, statement in enumerate(tree.body):
        stack.append((statement, module))
        while stack:
            node, scope = stack.pop()
            kind = type(node)
            if kind is ast.Name:
                assert isinstance(node, ast.Name)
                if type(node.ctx) is ast.Load:
                    if node.id in interest:
                        reads.append((node, scope, top))
                else:
                    if type(node.ctx) is ast.Del:
                        deleted.add(node.id)
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
                        stars.append(top)
                        assert isinstance(node, ast.ImportFrom)
                        if not node.level and node.module in TYPING_MODULES:
                            bind(scope, "TYPE_CHECKING", _FLAG)
                        else:
                            foreign_star = True
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
    if foreign_star:
        # It may bind any public name, TYPE_CHECKING and ``typing`` included (to True, to
        # another module): no name is then surely typing's flag or typing itself.
        for name in list(out._kinds):
            out._count(name, None)
    out.module_bound = set(module.bound)
    for scope in scopes:
        # ``global name`` and a binding in a function bind the module's name.
        out.module_bound.update(scope.bound & scope.globals)
    for read, scope, at in reads:
        if _is_local(read.id, scope):
            out.local_refs.add(id(read))
        elif read.id in sure and read.id not in deleted:
            # A function's body runs after its own def statement (``def compile(): ...
            # compile(x)``), unless a decorator calls it first; anything else runs at once.
            holder = tree.body[at]
            deferred = (
                type(holder) in _FUNCTIONS
                and not holder.decorator_list  # type: ignore[attr-defined]
                and _in_function(scope)
            )
            last = max((i for i in sure[read.id] if i < at or (deferred and i == at)), default=-1)
            if last >= 0 and not any(last < i <= at for i in stars):
                out.hidden_refs.add(id(read))
    return out


def _sure_bindings(body: list[ast.stmt]) -> dict[str, list[int]]:
    """Per name, the indexes of the top-level statements that bind it whenever they complete
    (see :func:`_binds`)."""
    sure: dict[str, list[int]] = {}
    for index, statement in enumerate(body):
        for name in _binds(statement, 0) or ():
            sure.setdefault(name, []).append(index)
    return sure


# How deep _binds looks into if/try statements (an elif chain nests as deep as the parser
# allows); deeper, a binding is taken as uncertain, which only reports more.
_MAX_DEPTH = 20


def _binds(statement: ast.stmt, depth: int) -> set[str] | None:
    """The names ``statement`` binds whenever it completes; None: it never completes.

    An import, a def or class, an assignment; an ``if`` whose branches all bind the name; a
    ``try`` whose body (or ``else``) and every handler bind it (a handler that ends in
    ``raise`` never completes), or whose ``finally`` does. Not a loop, whose body may not
    run, nor a ``with``, whose context manager may swallow an exception before the binding.
    """
    kind = type(statement)
    if kind is ast.Raise:
        return None
    if kind is ast.Import or kind is ast.ImportFrom:
        aliases = statement.names  # type: ignore[attr-defined]
        return {a.asname or a.name.partition(".")[0] for a in aliases if a.name != "*"}
    if kind in _FUNCTIONS or kind is ast.ClassDef:
        return {statement.name}  # type: ignore[attr-defined]
    if kind is ast.Assign:
        found: list[ast.Name] = []
        for target in statement.targets:  # type: ignore[attr-defined]
            _targets(target, found)
        return {name.id for name in found}
    if isinstance(statement, ast.AnnAssign):
        target = statement.target
        return (
            {target.id} if statement.value is not None and isinstance(target, ast.Name) else set()
        )
    if depth >= _MAX_DEPTH:
        return set()
    if isinstance(statement, ast.If):
        if not statement.orelse:
            return set()
        return _both(_binds_all(statement.body, depth), _binds_all(statement.orelse, depth))
    if isinstance(statement, ast.Try):
        # The ways it can complete: body then else, or a handler (after a body that may
        # have stopped anywhere); ``finally`` runs after every one of them.
        main = _binds_all(statement.body, depth)
        orelse = _binds_all(statement.orelse, depth)
        paths = None if main is None or orelse is None else main | orelse
        for handler in statement.handlers:
            paths = _both(paths, _binds_all(handler.body, depth))
        final = _binds_all(statement.finalbody, depth)
        return None if paths is None or final is None else paths | final
    return set()


def _binds_all(statements: list[ast.stmt], depth: int) -> set[str] | None:
    """What a block binds whenever it completes (None: it never does)."""
    out: set[str] = set()
    for statement in statements:
        found = _binds(statement, depth + 1)
        if found is None:
            return None
        out |= found
    return out


def _both(first: set[str] | None, second: set[str] | None) -> set[str] | None:
    """What two alternatives both bind (one that never completes binds everything)."""
    if first is None:
        return second
    if second is None:
        return first
    return first & second


def _in_function(scope: _Scope) -> bool:
    current: _Scope | None = scope
    while current is not None:
        if current.kind == _FUNCTION:
            return True
        current = current.parent
    return False


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
