"""The AST pass: one module's import statements and, when the bytes ask for it, every
expression that can import or run code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from typing import Any

from taskguard._policy import Policy, Verdict, decide, resolve_relative
from taskguard._rules import TG003
from taskguard._static.names import (
    BUILTIN_NAMES,
    BY_NAME_CALLS,
    FUNCTION_ROLES,
    GLOBALS,
    IMPORT_METHODS,
    LOCALS,
    LOOKUP_MODULES,
    NAME_KEYWORDS,
    STAR_NAMES,
    TRACKED_TOPS,
    ancestors,
    const_names,
    const_str,
    role_of,
    shown,
    type_checking_test,
)
from taskguard._static.records import Finding, ImportRef

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


def _chain_calls(nodes: Iterable[ast.AST], out: list[ast.Call]) -> None:
    """Collect the outermost calls in ``nodes`` (the nodes themselves included)."""
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if type(node) is ast.Call:
            out.append(node)
        else:
            pending.extend(ast.iter_child_nodes(node))


class Analyzer:
    """One pass over one module's statements; expressions only when the bytes ask for it."""

    def __init__(
        self,
        policy: Policy,
        module: str,
        package: str,
        *,
        walk_expressions: bool,
        graph: bool,
    ) -> None:
        self.policy = policy
        self.module = module
        self.package = package
        self.protected_by = policy.protected_by(module)
        self.sanctioned = policy.is_sanctioned(module)
        # Bound, memoised pattern lookups: called for every name every import binds.
        self.dispatch_match = policy._dispatch.first_match
        self.forbidden_match = policy._forbidden.first_match
        self.root_match = policy._roots.first_match
        self.walk_expressions = walk_expressions
        self.graph = graph
        self.ignore_type_checking = policy.type_checking == "ignore"
        self.allow_index = {entry: i for i, entry in enumerate(policy.allow)}
        self.findings: list[Finding] = []
        self.imports: list[ImportRef] = []
        self.deferred: list[tuple[ast.AST, int]] = []
        # Local names bound to tracked modules or their members, anywhere in the file
        # (``import importlib.util as iu``, ``from pkgutil import resolve_name as r``), and
        # names the module binds itself, which then shadow a builtin of the same name.
        # Flow-insensitive on purpose: a name bound to a loader anywhere counts everywhere.
        self.aliases: dict[str, str] = {}
        self.shadowed: set[str] = set()
        # Local names bound to a module above a pattern this module is judged by (see
        # ancestors): attribute chains on them are judged like imports of what they reach.
        self.ancestors = ancestors(
            (policy.forbidden_in_protected if self.protected_by is not None else ())
            + (() if self.sanctioned else policy.dispatch_modules)
        )
        self.prefix_aliases: dict[str, str] = {}
        self.covered: set[int] = set()
        # Per name ``import a.b.c`` binds (``a``): the names that statement was reported for.
        # An attribute chain through one of them (``google.cloud.tasks_v2.X`` after
        # ``import google.cloud.tasks_v2``) is the same import, not reported again.
        self.reported_through: dict[str, set[str]] = {}
        # Statements nested in these are no longer module-level bindings.
        self.scopes: tuple[type, ...] = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

    # ---------------------------------------------------------------- judging names

    def judge(self, base: str, members: Sequence[str], node: Any, stmt_line: int) -> None:
        """Judge an import of ``base`` and of ``base.m`` for each member ``m``.

        A member is reported only when the base module is not already reported under the
        same code: ``from httpx import Client`` is one TG002 (for ``httpx``), while
        ``from concurrent.futures import ProcessPoolExecutor`` is one for the member.
        """
        line, col = node.lineno, node.col_offset
        names = [base, *(f"{base}.{m}" for m in members if m != "*")]
        if self.graph:
            self.record_graph_imports(names, line, col, stmt_line)
        base_verdict = self.verdict(base)
        for i, name in enumerate(names):
            verdict = base_verdict if i == 0 else self.verdict(name)
            if verdict is None or (
                i and base_verdict is not None and base_verdict.code == verdict.code
            ):
                continue
            allow = -1 if verdict.allowed_by is None else self.allow_index[verdict.allowed_by]
            self.findings.append(
                Finding(line, col, stmt_line, verdict.code, name, verdict.message, allow, ())
            )

    def verdict(self, name: str) -> Verdict | None:
        """``decide(policy, module, name)``, asked only when a pattern can apply: the same
        answer, without a call per import name of every module in the project."""
        if (self.dispatch_match(name) is not None and not self.sanctioned) or (
            self.protected_by is not None and self.forbidden_match(name) is not None
        ):
            return decide(self.policy, self.module, name)
        return None

    def record_graph_imports(self, names: list[str], line: int, col: int, stmt_line: int) -> None:
        """Keep the names TG004 needs: first-party modules and forbidden ones.

        A forbidden member is implied by a recorded forbidden base. A sanctioned module's
        import of a dispatch library is the sanctioned path, so the forbidden names that
        statement touches on the way (``google.cloud`` for ``google.cloud.tasks_v2``) are not
        forbidden targets.
        """
        dispatch = (
            [n for n in names if self.dispatch_match(n) is not None] if self.sanctioned else []
        )
        base_recorded = False
        for i, name in enumerate(names):
            if self.root_match(name) is not None:
                self.imports.append(ImportRef(line, col, stmt_line, name))
                continue
            if self.forbidden_match(name) is None or (i and base_recorded):
                continue
            if any(d == name or d.startswith(name + ".") for d in dispatch):
                continue
            self.imports.append(ImportRef(line, col, stmt_line, name))
            base_recorded = base_recorded or i == 0

    def dynamic(self, construct: str, node: Any, stmt_line: int) -> None:
        if self.protected_by is None:
            return
        message = TG003.template.format(
            importer=self.module, protected=self.protected_by, construct=construct
        )
        self.findings.append(
            Finding(node.lineno, node.col_offset, stmt_line, TG003.code, None, message, -1, ())
        )

    # ---------------------------------------------------------------- statements

    def run(self, tree: ast.Module) -> None:
        self.statements(tree.body, top=True)
        for root, stmt_line in self.deferred:
            self.expression(root, stmt_line)

    def statements(self, body: list[ast.stmt], *, top: bool = False) -> None:
        scopes = self.scopes
        walk = self.walk_expressions
        for node in body:
            kind = type(node)
            if kind is ast.Import:
                self.import_(node)  # type: ignore[arg-type]
                continue
            if kind is ast.ImportFrom:
                self.import_from(node)  # type: ignore[arg-type]
                continue
            if not walk and kind is not ast.If:
                # Only statements matter: visit the nested blocks, skip every expression.
                for name in _blocks(kind):
                    value = getattr(node, name)
                    if name in ("handlers", "cases"):
                        for handler in value:
                            self.statements(handler.body)
                    else:
                        self.statements(value)
                continue
            if top:
                self.bind_top_level(node)
            if kind is ast.If:
                assert isinstance(node, ast.If)
                tc = type_checking_test(node.test) if self.ignore_type_checking else 0
                if self.walk_expressions:
                    self.deferred.append((node.test, node.lineno))
                # The TYPE_CHECKING branch never runs, so nothing in it is imported.
                if tc != 1:
                    self.statements(node.body, top=top)
                if tc != -1:
                    self.statements(node.orelse, top=top)
                continue
            for _field, value in ast.iter_fields(node):
                if isinstance(value, list):
                    for item in value:
                        if isinstance(item, ast.stmt):
                            self.statements([item], top=top and kind not in scopes)
                        elif isinstance(item, (ast.excepthandler, ast.match_case)):
                            self.container(item, node.lineno, top=top)
                        elif self.walk_expressions and isinstance(item, ast.AST):
                            self.deferred.append((item, node.lineno))
                elif self.walk_expressions and isinstance(value, ast.AST):
                    self.deferred.append((value, node.lineno))

    def container(self, node: ast.AST, stmt_line: int, *, top: bool) -> None:
        for _field, value in ast.iter_fields(node):
            if isinstance(value, list):
                stmts = [v for v in value if isinstance(v, ast.stmt)]
                if stmts:
                    self.statements(stmts, top=top)
                elif self.walk_expressions:
                    self.deferred.extend((v, stmt_line) for v in value if isinstance(v, ast.AST))
            elif self.walk_expressions and isinstance(value, ast.AST):
                self.deferred.append((value, stmt_line))

    def bind_top_level(self, node: ast.stmt) -> None:
        """Remember module-level definitions that shadow the builtins the pass resolves."""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.shadowed.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            self.shadowed.update(t.id for t in targets if isinstance(t, ast.Name))

    def bind(self, name: str, target: str) -> None:
        """``name`` now refers to the module or member ``target`` (an absolute dotted name)."""
        if target in self.ancestors:
            self.prefix_aliases[name] = target
        if target.partition(".")[0] in TRACKED_TOPS:
            self.aliases[name] = target
        else:
            self.shadowed.add(name)

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
                continue
            bound = alias.asname or alias.name
            if not node.level and f"{base}.{alias.name}" in self.ancestors:
                self.prefix_aliases[bound] = f"{base}.{alias.name}"
            if tracked:
                self.aliases[bound] = f"{base}.{alias.name}"
            else:
                self.shadowed.add(bound)

    # ---------------------------------------------------------------- expressions

    def qualify_name(self, name: str) -> str | None:
        target = self.aliases.get(name)
        if target is not None:
            return target
        if name in self.shadowed:
            return None
        if name == "__builtins__":
            return "__builtins__"
        if name in BUILTIN_NAMES:
            return f"builtins.{name}"
        return None

    def qualify(self, node: ast.AST) -> str | None:
        """What ``node`` evaluates to, as a dotted name, when it can be told without running
        code: ``pkgutil.resolve_name`` for ``r`` after ``from pkgutil import resolve_name as
        r``, ``builtins.__import__`` for ``vars(builtins)["__import__"]``,
        ``__builtins__`` for the builtins namespace however it is reached, ``<globals>`` for
        ``globals()``. None for anything else."""
        kind = type(node)
        if kind is ast.Name:
            return self.qualify_name(node.id)  # type: ignore[attr-defined]
        if kind is ast.Attribute:
            assert isinstance(node, ast.Attribute)
            if node.attr in ("__builtins__", "f_builtins"):
                return "__builtins__"
            return self.member(self.qualify(node.value), node.attr)
        if kind is ast.Subscript:
            assert isinstance(node, ast.Subscript)
            key = const_str(node.slice)
            if key is None:
                return None
            return self.lookup(self.qualify(node.value), key)
        if kind is ast.Call:
            assert isinstance(node, ast.Call)
            return self.qualify_call(node)
        return None

    @staticmethod
    def member(owner: str | None, attribute: str) -> str | None:
        """``owner.attribute``; a module's ``__dict__`` stands for the module itself."""
        if owner is None or owner in (GLOBALS, LOCALS):
            return None
        if owner == "__builtins__":
            return owner if attribute == "__dict__" else f"builtins.{attribute}"
        return owner if attribute == "__dict__" else f"{owner}.{attribute}"

    def lookup(self, owner: str | None, key: str) -> str | None:
        """``owner[key]`` with a constant key."""
        if key == "__builtins__":
            # Any module's namespace (``f.__globals__``, ``module.__dict__``) holds it.
            return "__builtins__"
        if owner in (GLOBALS, LOCALS):
            return self.qualify_name(key)
        if owner in LOOKUP_MODULES:
            return self.member(owner, key)
        return None

    def qualify_call(self, node: ast.Call) -> str | None:
        args = node.args
        if any(isinstance(a, ast.Starred) for a in args) or node.keywords:
            return None
        func = self.qualify(node.func)
        if func == "builtins.globals" and not args:
            return GLOBALS
        if func in ("builtins.locals", "builtins.vars") and not args:
            return LOCALS
        if func == "builtins.vars" and len(args) == 1:
            owner = self.qualify(args[0])
            return owner if owner in LOOKUP_MODULES else None
        if func == "builtins.getattr" and len(args) in (2, 3):
            key = const_str(args[1])
            if key is None:
                return None
            if key == "__builtins__":
                return "__builtins__"
            return self.member(self.qualify(args[0]), key)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and args:
            # ``globals().get("__builtins__")``, ``vars(builtins).get("exec")``
            key = const_str(args[0])
            owner = self.qualify(node.func.value)
            if key is None or owner is None or role_of(owner) != "lookup":
                return None
            return self.lookup(owner, key)
        role = BY_NAME_CALLS.get(func) if func is not None else None
        if role in ("import_module", "__import__") and func != "importlib.util.find_spec" and args:
            name = const_str(args[0])
            if name is None or name.startswith("."):
                return None
            if role == "import_module" or (len(args) > 3 and const_names(args[3])):
                return name
            return name.partition(".")[0]
        return None

    def expression(self, root: ast.AST, stmt_line: int) -> None:
        """Every dynamic import or code-running construct under ``root``.

        A chain that :meth:`qualify` resolves (``vars(builtins)["__import__"]``) is judged as
        a whole, once; only the calls inside it (``importlib.import_module("builtins")`` in
        ``importlib.import_module("builtins").__import__``) are looked at again, as calls.
        """
        stack = [root]
        chained: list[ast.Call] = []
        load = ast.Load
        while stack or chained:
            if chained:
                call = chained.pop()
                callee = self.callee(call)
                if callee is not None:
                    func, role = callee
                    self.call(role, func, call, stmt_line)
                _chain_calls([call.func, *call.args], chained)
                continue
            node = stack.pop()
            kind = type(node)
            if kind is ast.Call:
                if self.visit_call(node, stmt_line, stack, chained):  # type: ignore[arg-type]
                    continue
            elif (
                (kind is ast.Name or kind is ast.Attribute or kind is ast.Subscript)
                and type(node.ctx) is load  # type: ignore[attr-defined]
                and self.visit_reference(node, stmt_line, stack, chained)
            ):
                continue
            stack.extend(ast.iter_child_nodes(node))

    def reference(self, qualified: str, node: ast.AST, stmt_line: int) -> None:
        """A use of ``qualified`` that is not a call of it."""
        role = role_of(qualified)
        if role in FUNCTION_ROLES or qualified == "__builtins__":
            self.dynamic(f"a reference to {shown(qualified)}", node, stmt_line)

    def visit_reference(
        self, node: ast.AST, stmt_line: int, stack: list[ast.AST], chained: list[ast.Call]
    ) -> bool:
        """Judge a name, attribute or subscript; True when its children need no visit."""
        if self.prefix_aliases and type(node) is ast.Attribute:
            self.member_chain(node, stmt_line)
        qualified = self.qualify(node)
        if qualified is not None:
            self.reference(qualified, node, stmt_line)
            _chain_calls(ast.iter_child_nodes(node), chained)
            return True
        if isinstance(node, ast.Subscript) and const_str(node.slice) is None:
            owner = self.qualify(node.value)
            if owner is not None and role_of(owner) == "lookup":
                self.dynamic(f"a computed lookup in {shown(owner)}", node, stmt_line)
                _chain_calls([node.value], chained)
                stack.append(node.slice)
                return True
        return False

    def visit_call(
        self, node: ast.Call, stmt_line: int, stack: list[ast.AST], chained: list[ast.Call]
    ) -> bool:
        """Judge a call; True when its children need no (further) visit."""
        if self.prefix_aliases:
            self.member_chain(node, stmt_line)
        callee = self.callee(node)
        if callee is not None:
            func_name, role = callee
            self.call(role, func_name, node, stmt_line)
            if func_name in IMPORT_METHODS:
                stack.append(node.func.value)  # type: ignore[attr-defined]
            else:
                _chain_calls([node.func], chained)
            stack.extend(node.args)
            stack.extend(kw.value for kw in node.keywords)
            return True
        func = self.qualify(node.func)
        computed: ast.expr | None = None
        if func == "builtins.getattr" and len(node.args) >= 2:
            owner = self.qualify(node.args[0])
            if (
                owner in LOOKUP_MODULES
                and not isinstance(node.args[1], ast.Starred)
                and const_str(node.args[1]) is None
            ):
                self.dynamic(f"getattr() on {shown(owner)} with a computed name", node, stmt_line)
                computed = node.args[0]
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
            owner = self.qualify(node.func.value)
            if owner is not None and role_of(owner) == "lookup" and const_str(node.args[0]) is None:
                self.dynamic(f"a computed lookup in {shown(owner)}", node, stmt_line)
                computed = node.func.value
        if computed is not None:
            _chain_calls([computed], chained)
            stack.extend(a for a in node.args if a is not computed)
            stack.extend(kw.value for kw in node.keywords)
            return True
        value = self.qualify_call(node)
        if value is not None:
            # getattr(importlib, "import_module") as a value, globals(), vars(builtins)...
            self.reference(value, node, stmt_line)
            _chain_calls(ast.iter_child_nodes(node), chained)
            return True
        return False

    def alias_chain(self, node: ast.AST, spine: list[int]) -> tuple[str, str, str] | None:
        """``(name, bound module, dotted name)`` for an attribute chain on a name bound to
        an ancestor module (``futures.ProcessPoolExecutor``, ``getattr(futures, "X").y``)."""
        kind = type(node)
        if kind is ast.Name:
            name: str = node.id  # type: ignore[attr-defined]
            target = self.prefix_aliases.get(name)
            return None if target is None else (name, target, target)
        if kind is ast.Attribute:
            assert isinstance(node, ast.Attribute)
            inner = self.alias_chain(node.value, spine)
            attribute = node.attr
        elif kind is ast.Call:
            assert isinstance(node, ast.Call)
            args = node.args
            if (
                node.keywords
                or len(args) not in (2, 3)
                or any(isinstance(a, ast.Starred) for a in args)
            ):
                return None
            key = const_str(args[1])
            if key is None or self.qualify(node.func) != "builtins.getattr":
                return None
            inner = self.alias_chain(args[0], spine)
            attribute = key
        else:
            return None
        if inner is None:
            return None
        spine.append(id(node))
        name, bound, dotted = inner
        return name, bound, f"{dotted}.{attribute}"

    def member_chain(self, node: ast.AST, stmt_line: int) -> None:
        """Judge the outermost attribute chain on an ancestor-bound name at ``node``.

        The shortest name along the chain the policy refuses is reported, once per chain,
        unless the bound module itself was refused, or that name was reported at the
        import statement that bound the chain's first name.
        """
        if id(node) in self.covered:
            return
        spine: list[int] = []
        found = self.alias_chain(node, spine)
        if found is None:
            return
        self.covered.update(spine)
        root, base, dotted = found
        if self.verdict(base) is not None:
            return
        parts = dotted.split(".")
        for end in range(base.count(".") + 2, len(parts) + 1):
            name = ".".join(parts[:end])
            verdict = self.verdict(name)
            if verdict is None:
                continue
            if name in self.reported_through.get(root, ()):
                return
            allow = -1 if verdict.allowed_by is None else self.allow_index[verdict.allowed_by]
            self.findings.append(
                Finding(
                    node.lineno,  # type: ignore[attr-defined]
                    node.col_offset,  # type: ignore[attr-defined]
                    stmt_line,
                    verdict.code,
                    name,
                    verdict.message,
                    allow,
                    (),
                )
            )
            return

    def callee(self, node: ast.Call) -> tuple[str, str] | None:
        """What a call calls, as (qualified name, role), when that can import or run code.

        ``x.__import__(...)`` and ``x.import_module(...)`` count whatever ``x`` is: nothing
        else goes by those names, and ``x`` may be a module reached in a way the pass does
        not follow (``sys.modules["builtins"]``, an assignment).
        """
        func = self.qualify(node.func)
        if func is not None:
            role = role_of(func)
            return None if role is None or role == "lookup" else (func, role)
        if isinstance(node.func, ast.Attribute) and node.func.attr in IMPORT_METHODS:
            return node.func.attr, IMPORT_METHODS[node.func.attr]
        return None

    def call(self, role: str, func: str, node: ast.Call, stmt_line: int) -> None:
        label = shown(func)
        args: dict[str | None, ast.expr] = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        positional = node.args
        if any(isinstance(a, ast.Starred) for a in positional) or any(
            kw.arg is None for kw in node.keywords
        ):
            self.dynamic(f"{label}() with unpacked arguments", node, stmt_line)
            return
        if role == "import_module":
            self.call_import_module(label, positional, args, node, stmt_line)
        elif role == "__import__":
            self.call_dunder_import(label, positional, args, node, stmt_line)
        elif role == "resolve_name":
            self.call_resolve_name(label, positional, args, node, stmt_line)
        elif role == "by_name":
            keyword = NAME_KEYWORDS.get(func, "name")
            first = positional[0] if positional else args.get(keyword)
            name = const_str(first)
            if name is None or name.startswith("."):
                self.dynamic(f"{label}() with a non-constant name", node, stmt_line)
            else:
                self.judge(name, (), node, stmt_line)
        else:
            self.dynamic(f"{label}()", node, stmt_line)

    def call_import_module(
        self,
        label: str,
        positional: list[ast.expr],
        args: dict[str | None, ast.expr],
        node: Any,
        line: int,
    ) -> None:
        name = const_str(positional[0] if positional else args.get("name"))
        if name is None:
            self.dynamic(f"{label}() with a non-constant name", node, line)
            return
        if name.startswith("."):
            package_node = positional[1] if len(positional) > 1 else args.get("package")
            package = self.package_value(package_node)
            if package is None:
                self.dynamic(f"{label}() with a non-constant package", node, line)
                return
            level = len(name) - len(name.lstrip("."))
            try:
                name = resolve_relative(name[level:], package, level)
            except ImportError:
                return
        self.judge(name, (), node, line)

    def call_dunder_import(
        self,
        label: str,
        positional: list[ast.expr],
        args: dict[str | None, ast.expr],
        node: Any,
        line: int,
    ) -> None:
        def arg(index: int, keyword: str) -> ast.expr | None:
            return positional[index] if len(positional) > index else args.get(keyword)

        name = const_str(arg(0, "name"))
        if name is None:
            self.dynamic(f"{label}() with a non-constant name", node, line)
            return
        fromlist = const_names(arg(3, "fromlist"))
        level_node = arg(4, "level")
        level: int | None = 0
        if level_node is not None:
            level = (
                level_node.value
                if isinstance(level_node, ast.Constant) and type(level_node.value) is int
                else None
            )
        if fromlist is None or level is None:
            self.dynamic(f"{label}() with a non-constant fromlist or level", node, line)
            fromlist = fromlist or ()
            if level is None:
                return
        if level:
            try:
                name = resolve_relative(name, self.package, level)
            except ImportError:
                return
        self.judge(name, fromlist, node, line)

    def call_resolve_name(
        self,
        label: str,
        positional: list[ast.expr],
        args: dict[str | None, ast.expr],
        node: Any,
        line: int,
    ) -> None:
        """``pkgutil.resolve_name("pkg.mod:attr")`` or ``("pkg.mod.attr")``.

        With a colon, ``pkg.mod`` is imported and ``attr`` looked up on it: judged like
        ``from pkg.mod import attr``. Without one, Python imports the longest importable
        prefix and looks the rest up as attributes; the shortest prefix the policy forbids is
        the import reported (``httpx.Client`` is ``httpx``).
        """
        name = const_str(positional[0] if positional else args.get("name"))
        if name is None:
            self.dynamic(f"{label}() with a non-constant name", node, line)
            return
        module, colon, rest = name.partition(":")
        if colon:
            self.judge(module, [rest.partition(".")[0]] if rest else [], node, line)
            return
        parts = name.split(".")
        prefixes = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
        self.judge(next((p for p in prefixes if self.verdict(p)), name), (), node, line)

    def package_value(self, node: ast.expr | None) -> str | None:
        if isinstance(node, ast.Name) and node.id == "__package__":
            return self.package
        if isinstance(node, ast.Name) and node.id == "__name__":
            return self.module
        return const_str(node)
