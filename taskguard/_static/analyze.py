"""The AST pass: one module's import statements and, when the bytes ask for it, every
expression that can import or run code (``expressions``), judged by ``judge``.

Every walk is iterative (an ``elif`` chain nests as deep as the parser allows, which is
deeper than Python's recursion limit): statements are visited from an explicit stack.
"""

from __future__ import annotations

import ast

from taskguard._imports import resolve_relative
from taskguard._policy import Policy
from taskguard._static.expressions import ExpressionPass
from taskguard._static.names import BUILTIN_NAMES, STAR_NAMES, TRACKED_TOPS, ancestors
from taskguard._static.scopes import scan

_BLOCKS: dict[type, tuple[str, ...]] = {}


def _blocks(kind: type) -> tuple[str, ...]:
    """The fields of a statement class that hold nested statements (or handlers/cases)."""
    try:
        return _BLOCKS[kind]
    except KeyError:
        names = tuple(
            name
            for name in getattr(kind, "_fields", ())
            if name in ("body", "orelse", "finalbody", "handlers", "cases")
        )
        _BLOCKS[kind] = names
        return names


class Analyzer(ExpressionPass):
    """One pass over one module's statements; expressions only when the bytes ask for it.

    ``type_checking``: the source may spell ``TYPE_CHECKING`` (else no ``if`` test can be
    one, and the bindings need not be looked at for it).
    """

    def __init__(
        self,
        policy: Policy,
        module: str,
        package: str,
        *,
        walk_expressions: bool,
        graph: bool,
        type_checking: bool = True,
        source: bytes | None = None,
    ) -> None:
        super().__init__(policy, module, package, graph=graph)
        self.walk_expressions = walk_expressions
        self.type_checking = type_checking and policy.type_checking == "ignore"
        self.deferred: list[tuple[ast.AST, int]] = []
        self.ancestors = ancestors(self.tracked)
        self.flags: frozenset[str] = frozenset()
        self.typing_modules: frozenset[str] = frozenset()
        self.source = source  # the module's bytes, when known (see rebinds)

    def needs_expressions(self) -> bool:
        """Whether a statement bound a name whose reads or attribute chains are imports."""
        return bool(self.prefix_aliases or self.star_members)

    def run(self, tree: ast.Module) -> None:
        self.tree = tree
        if self.walk_expressions or self.type_checking:
            # Names read by the expression pass, and the ones a star import may bind.
            interest = BUILTIN_NAMES | {"__builtins__"}
            interest |= {segment for pattern in self.ancestors for segment in pattern.split(".")}
            interest |= {segment for pattern in self.tracked for segment in pattern.split(".")}
            self.bindings = scan(tree, frozenset(interest))
            if self.type_checking:
                self.flags = self.bindings.type_checking_names()
                self.typing_modules = self.bindings.typing_names()
        self.statements(tree.body)
        for root, stmt_line in self.deferred:
            self.expression(root, stmt_line)

    def type_checking_test(self, test: ast.expr) -> int:
        """1 for a test that is ``typing.TYPE_CHECKING`` (however bound), -1 for its
        negation, else 0.

        Recognised by what the name is bound to, everywhere in the file: a name only ever
        bound by ``from typing import TYPE_CHECKING [as name]`` (or ``typing_extensions``,
        or a star import of either, or ``TYPE_CHECKING = False``), or ``module.TYPE_CHECKING``
        where ``module`` is only ever bound to ``typing``/``typing_extensions``. Any other
        binding of the name (an assignment, a parameter, another import) makes it a value
        like any other: ``if settings.TYPE_CHECKING:`` runs. So is every one in a module that
        may rebind it through its namespace (``globals()["TYPE_CHECKING"] = True``, see
        ``namespace.may_rebind``): fail closed.
        """
        if not self.type_checking:
            return 0
        sign = 1
        while type(test) is ast.UnaryOp and type(test.op) is ast.Not:
            sign = -sign
            test = test.operand
        if type(test) is ast.Name:
            found = test.id in self.flags
        elif type(test) is ast.Attribute and test.attr == "TYPE_CHECKING":
            value = test.value
            found = type(value) is ast.Name and value.id in self.typing_modules
        else:
            return 0
        if not found:
            return 0
        # A module that may rebind it through its namespace runs the block: fail closed.
        return 0 if self.rebinds(self.flags) else sign

    def statements(self, body: list[ast.stmt]) -> None:
        """Every statement under ``body``, in source order, from an explicit stack."""
        walk = self.walk_expressions
        deferred = self.deferred
        pending: list[ast.AST] = list(reversed(body))
        while pending:
            node = pending.pop()
            kind = type(node)
            if kind is ast.Import:
                self.import_(node)  # type: ignore[arg-type]
                continue
            if kind is ast.ImportFrom:
                self.import_from(node)  # type: ignore[arg-type]
                continue
            if kind is ast.If:
                assert isinstance(node, ast.If)
                tc = self.type_checking_test(node.test)
                if walk:
                    deferred.append((node.test, node.lineno))
                # The TYPE_CHECKING branch never runs, so nothing in it is imported.
                if tc != -1:
                    pending.extend(reversed(node.orelse))
                if tc != 1:
                    pending.extend(reversed(node.body))
                continue
            if not walk:
                # Only statements matter: visit the nested blocks, skip every expression.
                nested: list[ast.AST] = []
                for name in _blocks(kind):
                    value = getattr(node, name)
                    if name in ("handlers", "cases"):
                        for handler in value:
                            nested += handler.body
                    else:
                        nested += value
                pending.extend(reversed(nested))
                continue
            line = node.lineno  # type: ignore[attr-defined]
            nested = []
            for _field, value in ast.iter_fields(node):
                if isinstance(value, list):
                    for item in value:
                        if isinstance(item, ast.stmt):
                            nested.append(item)
                        elif isinstance(item, (ast.excepthandler, ast.match_case)):
                            nested += self.container(item, line)
                        elif isinstance(item, ast.AST):
                            deferred.append((item, line))
                elif isinstance(value, ast.AST):
                    deferred.append((value, line))
            pending.extend(reversed(nested))

    def container(self, node: ast.AST, stmt_line: int) -> list[ast.stmt]:
        """The statements of an ``except`` handler or a ``case``; its expressions deferred."""
        out: list[ast.stmt] = []
        for _field, value in ast.iter_fields(node):
            if isinstance(value, list):
                stmts = [v for v in value if isinstance(v, ast.stmt)]
                if stmts:
                    out += stmts
                else:
                    self.deferred.extend((v, stmt_line) for v in value if isinstance(v, ast.AST))
            elif isinstance(value, ast.AST):
                self.deferred.append((value, stmt_line))
        return out

    def bind(self, name: str, target: str) -> None:
        """``name`` now refers to the module or member ``target`` (an absolute dotted name)."""
        if target in self.ancestors:
            self.prefix_aliases[name] = target
        if target.partition(".")[0] in TRACKED_TOPS:
            self.aliases[name] = target

    def bind_star(self, base: str) -> None:
        """``from base import *``: the names it may bind that lead to a pattern.

        Whatever ``base`` exports, a name it binds is a member or submodule of ``base``: the
        next segment of each pattern below ``base`` is one it may bind (a module above a
        pattern, or the named member itself).
        """
        prefix = base + "."
        for pattern in self.tracked:
            if not pattern.startswith(prefix):
                continue
            segment = pattern[len(prefix) :].partition(".")[0]
            if segment in ("*", "**") or not segment:
                continue
            target = prefix + segment
            if target in self.ancestors:
                self.prefix_aliases.setdefault(segment, target)
            elif target == pattern:
                self.star_members.setdefault(segment, target)

    def import_(self, node: ast.Import) -> None:
        for alias in node.names:
            self.judge(alias.name, (), node, node.lineno)
            if alias.asname:
                self.bind(alias.asname, alias.name)
            else:
                top = alias.name.partition(".")[0]
                self.bind(top, top)
                if top in self.prefix_aliases and self.verdict(alias.name) is not None:
                    self.reported_through.setdefault(top, set()).add(alias.name)

    def import_from(self, node: ast.ImportFrom) -> None:
        members = [alias.name for alias in node.names]
        if node.level:
            try:
                base = resolve_relative(node.module or "", self.package, node.level)
            except ImportError:
                # Beyond the top-level package: Python raises before importing anything.
                return
        else:
            base = node.module or ""
        self.judge(base, members, node, node.lineno)
        # A relative import binds first-party names, never the standard library's.
        tracked = not node.level and base.partition(".")[0] in TRACKED_TOPS
        for alias in node.names:
            if alias.name == "*":
                for member in STAR_NAMES.get(base, ()) if tracked else ():
                    self.aliases[member] = f"{base}.{member}"
                if not node.level:
                    self.bind_star(base)
                continue
            bound = alias.asname or alias.name
            if not node.level and f"{base}.{alias.name}" in self.ancestors:
                self.prefix_aliases[bound] = f"{base}.{alias.name}"
            if tracked:
                self.aliases[bound] = f"{base}.{alias.name}"
