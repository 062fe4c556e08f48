"""The import rules the static checker and the runtime guard share: one copy of each.

Note for the static checker (``taskguard/_static/``): switch to these, and delete its own
copies, after the split lands:

- ``import_candidates(base, members)`` for ``names = [base, *(f"{base}.{m}" ...)]`` in
  ``judge()``;
- ``resolve_import_module(name, package)`` in ``call_import_module()`` (the ``level``
  counting and ``resolve_relative(name[level:], ...)`` there);
- ``resolve_relative(name, package, level)`` for relative ``import``/``__import__``
  (``taskguard._policy.resolve_relative`` and ``import_candidates`` are re-exports of these
  now, kept until every caller imports them from here);
- ``could_be_refused(policy, name)`` / ``refusable_heads(policy)`` where it asks whether a
  name can be refused at all.

The guard (``_hook``) and the pytest plugin use them already. Pure functions, stdlib only:
the guard imports this in every interpreter of a ``taskguard run`` tree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskguard._policy import Policy

__all__ = [
    "calc_package",
    "could_be_refused",
    "import_candidates",
    "pattern_could_be_refused",
    "refusable_heads",
    "resolve_import_module",
    "resolve_relative",
]


def resolve_relative(name: str, package: str, level: int) -> str:
    """Resolve a relative import exactly as ``importlib`` does (``_resolve_name``).

    Raises ``ImportError`` for a relative import beyond the top-level package (or with no
    package at all), as the import system would.
    """
    if level == 0:
        return name
    bits = package.rsplit(".", level - 1)
    if not package or len(bits) < level:
        raise ImportError("attempted relative import beyond top-level package")
    base = bits[0]
    return f"{base}.{name}" if name else base


def resolve_import_module(name: str, package: str | None) -> str | None:
    """The absolute name ``importlib.import_module(name, package)`` imports, or ``None``
    when it would raise instead (an empty name, a relative one without a package or beyond
    the top-level package): leading dots are the level, as ``import_module`` counts them."""
    if not name.startswith("."):
        return name or None  # an empty name is a ValueError
    if not package:
        return None  # import_module raises TypeError itself
    level = len(name) - len(name.lstrip("."))
    try:
        return resolve_relative(name[level:], package, level)
    except ImportError:
        return None


def calc_package(globals_: Any) -> str:
    """The package a relative ``__import__`` resolves against: ``__package__``, else
    ``__spec__.parent``, else from ``__name__`` (``importlib._bootstrap._calc___package__``,
    without its warnings)."""
    if not globals_:
        return ""
    package = globals_.get("__package__")
    if package is not None:
        return _exact(package)
    spec = globals_.get("__spec__")
    if spec is not None:
        return _exact(spec.parent)
    name = _exact(globals_.get("__name__", ""))
    return name if "__path__" in globals_ else name.rpartition(".")[0]


def _exact(value: object) -> str:
    # A str subclass is read as the string it holds: its __str__ could say anything.
    return str.__str__(value) if isinstance(value, str) else str(value)


def import_candidates(name: str, fromlist: Iterable[str] = ()) -> list[str]:
    """Every full name an import statement may bind: the module, and each ``fromlist``
    name as a possible submodule or member (``from google.cloud import tasks_v2``); a star
    is judged on what it binds, after the import."""
    out = [name]
    out.extend(f"{name}.{item}" for item in fromlist if item != "*")
    return out


def could_be_refused(policy: Policy, name: str) -> bool:
    """Whether any importer could be refused ``name``: it is a dispatch module or a module
    forbidden in protected code. Every other name is clean whoever imports it."""
    return policy.is_dispatch_module(name) or policy.is_forbidden_in_protected(name)


def refusable_heads(policy: Policy) -> frozenset[str] | None:
    """The first segments of every name :func:`could_be_refused` may accept (``None``
    when a pattern starts with a wildcard): a name with another head is decided at once."""
    return heads(policy.dispatch_modules + policy.forbidden_in_protected)


def heads(patterns: Iterable[str]) -> frozenset[str] | None:
    """The first segments of ``patterns``; ``None`` when one starts with a wildcard."""
    found = set()
    for pattern in patterns:
        head = pattern.split(".", 1)[0]
        if head in ("*", "**"):
            return None
        found.add(head)
    return frozenset(found)


def pattern_could_be_refused(policy: Policy, pattern: str) -> bool:
    """Whether some module matched by ``pattern`` (an allowance: a marker, ``allowing()``)
    is a dispatch or forbidden module, so that allowing it can change anything."""
    from taskguard._policy import matches  # here: _policy imports this module

    targets = (*policy.dispatch_modules, *policy.forbidden_in_protected)
    sample = _sample(pattern)
    for target in targets:
        # the allowance covers (part of) the target's tree, or the target lies inside it
        if matches(target, sample) or matches(pattern, _sample(target)):
            return True
    # with wildcards on either side the samples may miss an overlap: give it the benefit
    return any(_wild(p) for p in (pattern, *targets))


def _sample(pattern: str) -> str:
    return ".".join(s if s != "*" else "x" for s in pattern.split(".") if s != "**") or "x"


def _wild(pattern: str) -> bool:
    return any(s in ("*", "**") for s in pattern.split("."))
