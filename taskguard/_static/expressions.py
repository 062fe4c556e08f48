"""The expression pass: every expression that can import or run code (a dynamic import, a
call of a function that imports by name or runs code, a lookup in a namespace that reaches
one), and the attribute chains on names bound to a module above a policy entry.

Every walk here is iterative: chains (``a.b.c``, ``f()()``, ``x[k][k]``) nest as deep as the
parser allows, which is deeper than Python's own recursion limit.
"""

from __future__ import annotations

import ast
from typing import Any

from taskguard._imports import resolve_import_module, resolve_relative
from taskguard._policy import Policy
from taskguard._static.judge import Judge
from taskguard._static.names import (
    BUILTIN_NAMES,
    BY_NAME_CALLS,
    FUNCTION_ROLES,
    GLOBALS,
    IMPORT_METHODS,
    LOCALS,
    LOOKUP_MODULES,
    NAME_KEYWORDS,
    const_names,
    const_str,
    role_of,
    shown,
)
from taskguard._static.namespace import may_rebind, spelled
from taskguard._static.scopes import Bindings

_UNKNOWN = object()
# Attribute chains are judged up to this many segments (see member_chain).
_DEEPEST_MODULE = 64


def chain_calls(nodes: list[ast.AST], out: list[ast.Call]) -> None:
    """Collect the outermost calls in ``nodes`` (the nodes themselves included)."""
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if type(node) is ast.Call:
            out.append(node)
        else:
            pending.extend(ast.iter_child_nodes(node))


_BUILTINS = frozenset(BUILTIN_NAMES)


def sys_module(key: ast.expr) -> str | None:
    """The module ``sys.modules[key]`` is, when it is a namespace the expression pass follows
    (``sys.modules["runpy"].run_module``, ``sys.modules["builtins"].exec``).

    Only a key written as one plain literal, and never ``types`` (a common word the byte
    prefilter counts only in import statements): the prefilter finds the other namespace
    names wherever they are spelled out, not a key split or escaped.
    """
    if (
        type(key) is not ast.Constant
        or type(key.value) is not str
        or key.value not in LOOKUP_MODULES
        or key.value == "types"
        or key.end_lineno != key.lineno
        or key.end_col_offset != key.col_offset + len(key.value) + 2
    ):
        return None
    return key.value


class ExpressionPass(Judge):
    """The expression half of :class:`~taskguard._static.analyze.Analyzer`: what the
    statement pass leaves in ``deferred``, walked after it (see ``run``)."""

    def __init__(self, policy: Policy, module: str, package: str, *, graph: bool) -> None:
        super().__init__(policy, module, package, graph=graph)
        # Local names bound to tracked modules or their members, anywhere in the file
        # (``import importlib.util as iu``, ``from pkgutil import resolve_name as r``).
        # Flow-insensitive on purpose: a name bound to a loader anywhere counts everywhere.
        self.aliases: dict[str, str] = {}
        # What every name means by Python's scoping rules (set by the statement pass).
        self.bindings = Bindings()
        # Local names bound to a module above a pattern this module is judged by (see
        # ancestors): attribute chains on them are judged like imports of what they reach.
        self.prefix_aliases: dict[str, str] = {}
        # Names a star import binds to a member a pattern names (``ProcessPoolExecutor``
        # after ``from concurrent.futures import *``): each read of one is that import.
        self.star_members: dict[str, str] = {}
        self.covered: set[int] = set()
        # Per name ``import a.b.c`` binds (``a``): the names that statement was reported for.
        # An attribute chain through one of them (``google.cloud.tasks_v2.X`` after
        # ``import google.cloud.tasks_v2``) is the same import, not reported again.
        self.reported_through: dict[str, set[str]] = {}
        # Memos of the iterative chain walks, by node id (see qualify and alias_chain).
        self.qualified: dict[int, str | None] = {}
        self.unrooted: set[int] = set()
        # The module's tree and bytes (set by the statement pass), and per set of names
        # whether the module may rebind one through its namespace (see rebinds).
        self.tree: ast.Module | None = None
        self.source: bytes | None = None
        self.rebinding: dict[tuple[frozenset[str], bool], bool] = {}

    def rebinds(self, names: frozenset[str], *, by_code: bool = True) -> bool:
        """Whether the module may rebind one of ``names`` through its namespace, which its
        bindings do not show (``globals()["eval"] = ...``, ``del globals()["eval"]``; see
        ``namespace.may_rebind``). Then what its bindings say of those names is not trusted:
        fail closed."""
        known = self.rebinding.get((names, by_code))
        if known is None:
            tree, source = self.tree, self.source
            known = tree is None or (
                (source is None or spelled(source, names))
                and may_rebind(tree, names, by_code=by_code)
            )
            self.rebinding[names, by_code] = known
        return known

    def qualify_name(self, name: str, node: ast.AST | None = None) -> str | None:
        """What a name means at module level, or at ``node`` (a read of it)."""
        target = self.aliases.get(name)
        if target is not None:
            return target
        if node is not None and id(node) in self.bindings.local_refs:
            return None  # a parameter, a local variable, a nested def...: not the builtin
        # The module's own binding of the name (which has run by now, at ``node``) hides the
        # builtin, unless the module may take that binding out through its namespace
        # (``eval = None; globals().pop("eval")``: the builtin again).
        if node is not None:
            if id(node) in self.bindings.hidden_refs and not self.rebinds(_BUILTINS, by_code=False):
                return None
        elif name in self.bindings.module_bound and not self.rebinds(_BUILTINS, by_code=False):
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
        ``globals()``. None for anything else.

        Iterative along the chain (``a.b.c``, ``x[k][k]``, ``f()()``, which nest as deep as
        the parser allows), and remembered per node: the expression pass asks again for the
        inner links of a chain it could not resolve.
        """
        known = self.qualified
        spine: list[ast.AST] = []
        value: str | None = None
        while True:
            hit = known.get(id(node), _UNKNOWN)
            if hit is not _UNKNOWN:
                value = hit  # type: ignore[assignment]
                break
            kind = type(node)
            if kind is ast.Attribute:
                if node.attr in ("__builtins__", "f_builtins"):  # type: ignore[attr-defined]
                    value = "__builtins__"
                    known[id(node)] = value
                    break
                spine.append(node)
                node = node.value  # type: ignore[attr-defined]
            elif kind is ast.Subscript:
                key = const_str(node.slice)  # type: ignore[attr-defined]
                if key is None or key == "__builtins__":
                    value = None if key is None else "__builtins__"
                    known[id(node)] = value
                    break
                spine.append(node)
                node = node.value  # type: ignore[attr-defined]
            elif kind is ast.Call:
                args = node.args  # type: ignore[attr-defined]
                if any(isinstance(a, ast.Starred) for a in args) or node.keywords:  # type: ignore[attr-defined]
                    value = None
                    known[id(node)] = value
                    break
                spine.append(node)
                node = node.func  # type: ignore[attr-defined]
            else:
                value = self.qualify_name(node.id, node) if kind is ast.Name else None  # type: ignore[attr-defined]
                known[id(node)] = value
                break
        for link in reversed(spine):
            kind = type(link)
            if kind is ast.Attribute:
                value = self.member(value, link.attr)  # type: ignore[attr-defined]
            elif kind is ast.Subscript:
                key = const_str(link.slice)  # type: ignore[attr-defined]
                if value == "sys.modules":
                    value = sys_module(link.slice) if key is not None else None  # type: ignore[attr-defined]
                else:
                    value = self.lookup(value, key)  # type: ignore[arg-type]
            else:
                value = self.qualify_call(link, value)  # type: ignore[arg-type]
            known[id(link)] = value
        return value

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

    def qualify_call(self, node: ast.Call, func: str | None) -> str | None:
        """What the call ``node`` returns, ``func`` being what it calls (see qualify)."""
        args = node.args
        if any(isinstance(a, ast.Starred) for a in args) or node.keywords:
            return None
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
        if (
            role in ("import_module", "__import__")
            and func != "importlib.util.find_spec"
            and args
            and not (role == "import_module" and len(args) > 2)  # a ``_gcd_import`` level
        ):
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
                chain_calls([call.func, *call.args], chained)
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
        elif self.star_members and type(node) is ast.Name:
            self.star_member(node, stmt_line)
        qualified = self.qualify(node)
        if qualified is not None:
            self.reference(qualified, node, stmt_line)
            chain_calls(list(ast.iter_child_nodes(node)), chained)
            return True
        if isinstance(node, ast.Subscript) and const_str(node.slice) is None:
            owner = self.qualify(node.value)
            if owner is not None and role_of(owner) == "lookup":
                self.dynamic(f"a computed lookup in {shown(owner)}", node, stmt_line)
                chain_calls([node.value], chained)
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
                # ``x.import_module``: only ``x`` is left to visit; ``getattr(x, "...")``:
                # the getattr call, whose own call is no import.
                fetch = node.func
                stack.append(fetch.value if isinstance(fetch, ast.Attribute) else fetch)
            else:
                chain_calls([node.func], chained)
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
            chain_calls([computed], chained)
            stack.extend(a for a in node.args if a is not computed)
            stack.extend(kw.value for kw in node.keywords)
            return True
        value = self.qualify(node)
        if value is not None:
            # getattr(importlib, "import_module") as a value, globals(), vars(builtins)...
            self.reference(value, node, stmt_line)
            chain_calls(list(ast.iter_child_nodes(node)), chained)
            return True
        return False

    def alias_chain(self, node: ast.AST, spine: list[int]) -> tuple[str, str, str] | None:
        """``(name, bound module, dotted name)`` for an attribute chain on a name bound to
        an ancestor module (``futures.ProcessPoolExecutor``, ``getattr(futures, "X").y``).

        Iterative, and a chain found to start elsewhere is remembered as such, node by
        node: the expression pass asks about every inner link of a long chain.
        """
        links: list[ast.AST] = []
        attributes: list[str] = []
        current = node
        while True:
            if id(current) in self.unrooted:
                found = None
                break
            kind = type(current)
            if kind is ast.Name:
                name: str = current.id  # type: ignore[attr-defined]
                target = self.prefix_aliases.get(name)
                found = None if target is None else (name, target)
                break
            if kind is ast.Attribute:
                links.append(current)
                attributes.append(current.attr)  # type: ignore[attr-defined]
                current = current.value  # type: ignore[attr-defined]
                continue
            if kind is ast.Call:
                args = current.args  # type: ignore[attr-defined]
                key = None
                if (
                    not current.keywords  # type: ignore[attr-defined]
                    and len(args) in (2, 3)
                    and not any(isinstance(a, ast.Starred) for a in args)
                ):
                    key = const_str(args[1])
                if key is not None and self.qualify(current.func) == "builtins.getattr":  # type: ignore[attr-defined]
                    links.append(current)
                    attributes.append(key)
                    current = args[0]
                    continue
            found = None
            break
        if found is None:
            self.unrooted.update(id(link) for link in links)
            return None
        spine.extend(id(link) for link in links)
        root, target = found
        return root, target, ".".join([target, *reversed(attributes)])

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
        parts = dotted.split(".", _DEEPEST_MODULE)
        if self.graph:
            reached = [
                ".".join(parts[:end])
                for end in range(base.count(".") + 2, min(len(parts), _DEEPEST_MODULE) + 1)
            ]
            self.record_graph_use(reached, node.lineno, node.col_offset, stmt_line)  # type: ignore[attr-defined]
        if self.verdict(base) is not None:
            return
        # No module is nested that deep: past it, the chain is attribute lookups on objects.
        for end in range(base.count(".") + 2, min(len(parts), _DEEPEST_MODULE) + 1):
            name = ".".join(parts[:end])
            verdict = self.verdict(name)
            if verdict is None:
                continue
            if name in self.reported_through.get(root, ()):
                return
            self.report(verdict, name, node.lineno, node.col_offset, stmt_line)  # type: ignore[attr-defined]
            return

    def star_member(self, node: ast.Name, stmt_line: int) -> None:
        """A read of a name a star import bound to a member a pattern names: that import.

        Unless the name is local where it is read, or the module binds it another way (an
        import statement naming it is reported there).
        """
        target = self.star_members.get(node.id)
        if (
            target is None
            or id(node) in self.bindings.local_refs
            or id(node) in self.bindings.hidden_refs
        ):
            return
        if self.graph:
            self.record_graph_use([target], node.lineno, node.col_offset, stmt_line)
        verdict = self.verdict(target)
        if verdict is not None:
            self.report(verdict, target, node.lineno, node.col_offset, stmt_line)

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
            role = IMPORT_METHODS[node.func.attr]
            if role == "runner" and self.found_by_name(node.func.value):
                return None
            return node.func.attr, role
        fetched = self.fetched_method(node.func)
        if fetched is not None:
            # The same method fetched by a constant name: ``getattr(x, "__import__")(...)``,
            # ``x.__getattribute__("import_module")(...)``.
            owner, attr = fetched
            role = IMPORT_METHODS[attr]
            if role == "runner" and self.found_by_name(owner):
                return None
            return attr, role
        return None

    def fetched_method(self, node: ast.expr) -> tuple[ast.expr, str] | None:
        """``(x, name)`` for ``getattr(x, "name")`` or ``x.__getattribute__("name")`` with
        ``name`` one of IMPORT_METHODS, written as one plain literal (``x`` left unqualified:
        a namespace the pass follows is judged by :meth:`qualify`, split keys included)."""
        if type(node) is not ast.Call or node.keywords:
            return None
        args = node.args
        if any(isinstance(a, ast.Starred) for a in args):
            return None
        func = node.func
        if len(args) in (2, 3) and self.qualify(func) == "builtins.getattr":
            owner, key = args[0], args[1]
        elif type(func) is ast.Attribute and func.attr == "__getattribute__" and len(args) == 1:
            owner, key = func.value, args[0]
        else:
            return None
        # Only a name spelled out in one plain literal: the byte prefilter finds that text
        # (a key split or escaped on an owner it cannot name would need every ``getattr``
        # parsed).
        if (
            type(key) is not ast.Constant
            or type(key.value) is not str
            or key.value not in IMPORT_METHODS
            or key.end_lineno != key.lineno
            or key.end_col_offset != key.col_offset + len(key.value) + 2
        ):
            return None
        return owner, key.value

    def found_by_name(self, node: ast.expr) -> bool:
        """Whether ``node`` is an attribute chain on a call that finds a module by name
        (``importlib.util.find_spec("httpx").loader``): the loader's ``load_module()`` runs
        what that call named, and the call is judged already (TG002 for a constant name,
        TG003 for another), so the method call is not reported again."""
        while type(node) is ast.Attribute:
            node = node.value
        if type(node) is not ast.Call:
            return False
        func = self.qualify(node.func)
        return func is not None and func in BY_NAME_CALLS

    def call(self, role: str, func: str, node: ast.Call, stmt_line: int) -> None:
        label = shown(func)
        args: dict[str | None, ast.expr] = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        positional = node.args
        if any(isinstance(a, ast.Starred) for a in positional) or any(
            kw.arg is None for kw in node.keywords
        ):
            self.dynamic(f"{label}() with unpacked arguments", node, stmt_line)
            return
        keyword = NAME_KEYWORDS.get(func, "name")
        if role == "import_module":
            self.call_import_module(label, positional, args, node, stmt_line, keyword)
        elif role == "__import__":
            self.call_dunder_import(label, positional, args, node, stmt_line)
        elif role == "resolve_name":
            # ``pydoc.locate`` has no ``module:attribute`` form (it imports nothing for one).
            colon = func not in ("pydoc.locate", "builtins.help")
            self.call_resolve_name(label, positional, args, node, stmt_line, keyword, colon)
        elif role == "by_name":
            first = positional[0] if positional else args.get(keyword)
            name = const_str(first)
            if name is None or name.startswith("."):
                self.dynamic(f"{label}() with a non-constant name", node, stmt_line)
            else:
                self.judge(name, (), node, stmt_line)
        else:
            self.dynamic(f"{label}()", node, stmt_line)

    def call_import_module(  # noqa: PLR0917 - private, one call site
        self,
        label: str,
        positional: list[ast.expr],
        args: dict[str | None, ast.expr],
        node: Any,
        line: int,
        keyword: str = "name",
    ) -> None:
        name = const_str(positional[0] if positional else args.get(keyword))
        if name is None:
            self.dynamic(f"{label}() with a non-constant name", node, line)
            return
        # ``_gcd_import(name, package, level)``: a level other than 0 makes the name relative.
        level = positional[2] if len(positional) > 2 else args.get("level")
        if level is not None and not (
            isinstance(level, ast.Constant) and type(level.value) is int and level.value == 0
        ):
            self.dynamic(f"{label}() with a level", node, line)
            return
        package = None
        if name.startswith("."):
            package_node = positional[1] if len(positional) > 1 else args.get("package")
            package = self.package_value(package_node)
            if package is None:
                self.dynamic(f"{label}() with a non-constant package", node, line)
                return
        resolved = resolve_import_module(name, package)
        if resolved is not None:  # else import_module raises before importing anything
            self.judge(resolved, (), node, line)

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

    def call_resolve_name(  # noqa: PLR0917 - private, one call site
        self,
        label: str,
        positional: list[ast.expr],
        args: dict[str | None, ast.expr],
        node: Any,
        line: int,
        keyword: str = "name",
        colon: bool = True,
    ) -> None:
        """``pkgutil.resolve_name("pkg.mod:attr")`` or ``("pkg.mod.attr")``.

        With a colon, ``pkg.mod`` is imported and ``attr`` looked up on it: judged like
        ``from pkg.mod import attr``. Without one, Python imports the longest importable
        prefix and looks the rest up as attributes; the shortest prefix the policy forbids is
        the import reported (``httpx.Client`` is ``httpx``).
        """
        name = const_str(positional[0] if positional else args.get(keyword))
        if name is None:
            self.dynamic(f"{label}() with a non-constant name", node, line)
            return
        module, separator, rest = name.partition(":") if colon else (name, "", "")
        if separator:
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
