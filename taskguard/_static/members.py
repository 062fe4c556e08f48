"""Where a member named by a policy entry is defined, when that can be known without
importing anything: the standard library's own source, read as text.

``concurrent.futures.ProcessPoolExecutor`` is defined in ``concurrent.futures.process`` and
re-exported (lazily, by a module ``__getattr__``) from ``concurrent.futures``: ``from
concurrent.futures.process import ProcessPoolExecutor`` imports the very same class. For
each member-level entry whose module is in the standard library, the module's source is
parsed (never imported) and the ``from X import Y [as Z]`` statements that bind the member
(anywhere in it, ``__getattr__`` included, following ``name = alias`` assignments) give the
module that defines it; that module is read the same way, in case it re-exports too.

Why the source and not an import: importing even a standard module at check time runs code
(``concurrent.futures.process`` starts no process, but others register handlers, read the
environment or import half the library), and the name at the top of a policy entry may be a
first-party package shadowing a standard one. The running interpreter's standard library is
the one the checked code imports from, and its source is plain files next to ``os.py``.
Third-party packages are not followed: their modules can only be known by importing them or
by trusting an installed file that may differ at run time.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Iterable

from taskguard._imports import resolve_relative
from taskguard._static.pyparse import parse

# Patterns -> {name the member is also importable as: the policy entry}.
_MEMO: dict[tuple[str, ...], dict[str, str]] = {}
# A chain of re-exports longer than this is not followed (none in the standard library).
_MAX_HOPS = 4


def _stdlib_source(module: str) -> str | None:
    """The path of a standard-library module's source (``a/b/__init__.py`` or ``a/b.py``)."""
    top = module.partition(".")[0]
    if top not in getattr(sys, "stdlib_module_names", ()):
        return None
    base = os.path.dirname(os.__file__)
    parts = module.split(".")
    for candidate in (
        os.path.join(base, *parts, "__init__.py"),
        os.path.join(base, *parts) + ".py",
    ):
        if os.path.isfile(candidate):
            return candidate
    return None


def _is_package(module: str) -> bool:
    source = _stdlib_source(module)
    return source is not None and source.endswith("__init__.py")


def _imported_from(module: str, member: str) -> list[tuple[str, str]]:
    """``(module, name)`` pairs that ``member`` of ``module`` is imported from in its source.

    ``from .process import ProcessPoolExecutor as pe`` followed by ``ProcessPoolExecutor =
    pe`` counts: names are followed through plain assignments, anywhere in the module.
    """
    path = _stdlib_source(module)
    if path is None:
        return []
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        # Most modules never import the name (they define it, or lack it) and need no parse.
        # The test is loose: an import keyword, then the name before any ")". Only a ")" in
        # a comment inside a parenthesised import list could hide an import from it.
        spelled = re.escape(member.encode())
        if re.search(rb"\bimport\b[^)]*?\b" + spelled + rb"\b", data) is None:
            return []
        # Through pyparse: a parse another thread disturbed raises (ParserDisturbed), so no
        # empty answer is remembered for the rest of the process.
        tree = parse(data, path)
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    imported: dict[str, list[tuple[str, str]]] = {}
    assigned: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            try:
                source = resolve_relative(node.module or "", package, node.level)
            except ImportError:
                continue
            for alias in node.names:
                bound = alias.asname or alias.name
                imported.setdefault(bound, []).append((source, alias.name))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, set()).add(node.value.id)
    names = {member}
    pending = [member]
    while pending:
        for value in assigned.get(pending.pop(), ()):
            if value not in names:
                names.add(value)
                pending.append(value)
    return [pair for name in sorted(names) for pair in imported.get(name, ())]


def _defining_names(module: str, member: str) -> list[str]:
    """Every other ``module.name`` the member ``module.member`` is imported from."""
    found: list[str] = []
    pending = [(module, member, 0)]
    seen = {(module, member)}
    while pending:
        current, name, hops = pending.pop()
        if hops >= _MAX_HOPS:
            continue
        for source, original in _imported_from(current, name):
            if (source, original) in seen or original == "*":
                continue
            seen.add((source, original))
            found.append(f"{source}.{original}")
            pending.append((source, original, hops + 1))
    return found


def other_names(patterns: Iterable[str]) -> dict[str, str]:
    """For the member-level entries among ``patterns`` whose module is in the standard
    library: every other dotted name the member can be imported by, mapped to the entry.

    ``{"concurrent.futures.process.ProcessPoolExecutor":
    "concurrent.futures.ProcessPoolExecutor"}``. Entries naming a module (a submodule file
    exists) have none: a module is only ever imported by its own name.
    """
    key = tuple(sorted(set(patterns)))
    known = _MEMO.get(key)
    if known is not None:
        return known
    out: dict[str, str] = {}
    for pattern in key:
        parts = pattern.split(".")
        if len(parts) < 2 or any(part in ("*", "**") for part in parts):
            continue
        module, member = ".".join(parts[:-1]), parts[-1]
        if not _is_package(module) and _stdlib_source(module) is None:
            continue
        if _stdlib_source(pattern) is not None:
            continue  # a submodule, not a member
        for name in _defining_names(module, member):
            if name != pattern and name not in key:
                out.setdefault(name, pattern)
    _MEMO[key] = out
    return out
