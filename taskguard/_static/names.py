"""What names mean to the analysis: constant folding, and the functions, classes and
namespaces through which an expression can import or run code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable


def const_str(node: ast.AST | None) -> str | None:
    """The value of a string expression Python can fold without running code, else None.

    Iterative: ``"a" + "b" + ...`` nests as deep as the parser allows.
    """
    parts: list[str] = []
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, ast.Constant):
            if not isinstance(item.value, str):
                return None
            parts.append(item.value)
        elif isinstance(item, ast.BinOp) and isinstance(item.op, ast.Add):
            pending.append(item.right)
            pending.append(item.left)
        elif isinstance(item, ast.JoinedStr):
            pending.extend(reversed(item.values))
        else:
            return None
    return "".join(parts)


def const_names(node: ast.AST | None) -> tuple[str, ...] | None:
    """A constant ``fromlist``: a list/tuple of constant strings (or None/empty), else None."""
    if node is None:
        return ()
    if isinstance(node, ast.Constant) and node.value is None:
        return ()
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        out = []
        for element in node.elts:
            value = const_str(element)
            if value is None:
                return None
            out.append(value)
        return tuple(out)
    return None


# What a qualified name (see ``_Analyzer.qualify``) is, for the expression pass. Calls of
# these are judged by their constant module name, or TG003 in protected code otherwise.
BY_NAME_CALLS: dict[str, str] = {
    "builtins.__import__": "__import__",
    "importlib.__import__": "__import__",
    "importlib.import_module": "import_module",
    # Finding a module imports its parent packages, and the spec or loader it returns runs
    # the module (``find_spec("httpx").loader.load_module()``): judged like an import.
    "importlib.util.find_spec": "import_module",
    "importlib.find_loader": "by_name",
    "pkgutil.get_loader": "by_name",
    "pkgutil.find_loader": "by_name",
    "pkgutil.resolve_name": "resolve_name",
    # Imports the longest importable prefix of a dotted name, as resolve_name without a colon.
    "pydoc.locate": "resolve_name",
    # The builtin ``help`` (from ``site``) documents a string by ``pydoc.locate``-ing it.
    "builtins.help": "resolve_name",
    # Imports the whole dotted name (``__import__`` then a walk down the attributes).
    "pydoc.safeimport": "import_module",
    # What ``import_module`` calls: ``(name, package=None, level=0)``. ``_bootstrap`` is
    # also importable as ``_frozen_importlib`` (the same module object).
    "importlib._bootstrap._gcd_import": "import_module",
    "_frozen_importlib._gcd_import": "import_module",
    "importlib._bootstrap.__import__": "__import__",
    "_frozen_importlib.__import__": "__import__",
    "runpy.run_module": "by_name",
}
# The keyword of the module name, for the "by_name" calls whose keyword is not ``name``.
NAME_KEYWORDS = {
    "pkgutil.get_loader": "module_or_name",
    "pkgutil.find_loader": "fullname",
    "runpy.run_module": "mod_name",
    "pydoc.locate": "path",
    "builtins.help": "request",
    "pydoc.safeimport": "path",
}
# Functions that run code or load a module from a path or a loader, bypassing names: TG003
# when called or referenced in protected code.
RUNNERS = frozenset(
    {
        "builtins.exec",
        "builtins.eval",
        "builtins.compile",
        "runpy.run_path",
        # Imports every package it finds under the given paths (to list their contents).
        "pkgutil.walk_packages",
        "importlib.util.spec_from_file_location",
        "importlib.util.spec_from_loader",
        "importlib.util.module_from_spec",
        "pydoc.importfile",
        # ``imp`` (Python 3.10 and 3.11): each loads from a path or an open file, whatever
        # the name it is given.
        "imp.load_source",
        "imp.load_compiled",
        "imp.load_dynamic",
        "imp.load_package",
        "imp.load_module",
    }
)
# Private machinery behind the above.
RUNNER_PREFIXES = ("runpy._", "importlib._bootstrap", "_frozen_importlib")
# Classes whose instances load code by path or are modules made outside the import system:
# TG003 when called (a reference, as a base class, annotation or isinstance() argument,
# loads nothing by itself).
LOADER_CLASSES = frozenset(
    {
        "importlib.machinery.SourceFileLoader",
        "importlib.machinery.SourcelessFileLoader",
        "importlib.machinery.ExtensionFileLoader",
        "zipimport.zipimporter",
        "types.ModuleType",
    }
)
# Modules (and the builtins namespace) whose members a computed lookup can reach: a
# ``getattr()`` or ``[...]`` with a computed name on them is TG003 in protected code.
LOOKUP_MODULES = frozenset(
    {
        "_frozen_importlib",
        "builtins",
        "__builtins__",
        "imp",
        "importlib",
        "importlib.util",
        "importlib.machinery",
        "pkgutil",
        "pydoc",
        "runpy",
        "types",
        "zipimport",
    }
)
# The mappings of ``globals()`` and ``locals()``/``vars()``: a constant key is a name lookup.
GLOBALS = "<globals>"
LOCALS = "<locals>"
# Modules whose names ``import`` binds are followed through aliases (``import runpy as r``).
TRACKED_TOPS = frozenset(
    {
        "_frozen_importlib",
        "_frozen_importlib_external",
        "builtins",
        "imp",
        "importlib",
        "pkgutil",
        "pydoc",
        "runpy",
        # For ``sys.modules["runpy"]`` and the like (see ``expressions.sys_module``).
        "sys",
        "types",
        "zipimport",
    }
)
# What ``from M import *`` binds that matters, per module.
STAR_NAMES: dict[str, tuple[str, ...]] = {
    # ``imp`` has no ``__all__``: a star import binds every public name. ``pydoc``'s
    # ``__all__`` is ``["help"]``.
    "imp": ("load_compiled", "load_dynamic", "load_module", "load_package", "load_source"),
    "importlib": ("__import__", "import_module"),
    "importlib.util": (
        "find_spec",
        "module_from_spec",
        "spec_from_file_location",
        "spec_from_loader",
    ),
    "importlib.machinery": ("ExtensionFileLoader", "SourceFileLoader", "SourcelessFileLoader"),
    "pkgutil": ("find_loader", "get_loader", "walk_packages"),
    "runpy": ("run_module", "run_path"),
    "types": ("ModuleType",),
    "zipimport": ("zipimporter",),
}
# Builtins the expression pass resolves (unless the module binds the name itself).
BUILTIN_NAMES = frozenset(
    {"exec", "eval", "compile", "__import__", "getattr", "globals", "locals", "vars", "help"}
)
# Method names that import whatever the object is (see ``_Analyzer.callee``).
# A loader's ``load_module``/``exec_module`` (``__loader__.load_module(...)``,
# ``spec.loader.exec_module(module)``) runs a module's code outside the import statements
# the policy judges, whatever loader it is: TG003 in protected code.
IMPORT_METHODS = {
    "__import__": "__import__",
    "import_module": "import_module",
    "load_module": "runner",
    "exec_module": "runner",
}
FUNCTION_ROLES = frozenset({"__import__", "import_module", "by_name", "resolve_name", "runner"})


def role_of(qualified: str) -> str | None:
    """What a qualified name is: a call role, "class", "lookup" (a namespace), or None."""
    role = BY_NAME_CALLS.get(qualified)
    if role is not None:
        return role
    if qualified in RUNNERS or qualified.startswith(RUNNER_PREFIXES):
        return "runner"
    if qualified in LOADER_CLASSES:
        return "class"
    if qualified in LOOKUP_MODULES or qualified in (GLOBALS, LOCALS):
        return "lookup"
    return None


def shown(qualified: str) -> str:
    """A qualified name as a message shows it: builtins by their bare name."""
    if qualified == GLOBALS:
        return "globals()"
    if qualified == LOCALS:
        return "locals()"
    return qualified.removeprefix("builtins.")


def ancestors(patterns: Iterable[str]) -> frozenset[str]:
    """The modules strictly above each pattern's literal leading segments.

    ``concurrent.futures.ProcessPoolExecutor`` gives ``concurrent`` and
    ``concurrent.futures``: a name bound to one of them reaches the pattern through
    attributes (``futures.ProcessPoolExecutor``) without an import statement naming it.
    """
    found: set[str] = set()
    for pattern in patterns:
        parts = pattern.split(".")
        for end in range(1, len(parts)):
            if parts[end - 1] in ("*", "**"):
                break
            found.add(".".join(parts[:end]))
    return frozenset(found)
