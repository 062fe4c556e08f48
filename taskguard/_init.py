"""``taskguard init``: append a commented ``[tool.taskguard]`` table to pyproject.toml."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from taskguard._errors import PolicyError
from taskguard._policy import (
    DEFAULT_DISPATCH_MODULES,
    DEFAULT_FORBIDDEN,
    DEFAULT_PROTECTED,
    DEFAULT_SANCTIONED,
    discover_root_packages,
    policy_from_table,
)

TEMPLATE = """\
[tool.taskguard]
# First-party packages that taskguard judges ({roots_note}).
root-packages = {roots}
# The only modules allowed to import the dispatch libraries.
sanctioned = {sanctioned}
# The dispatch libraries. dispatch-distributions = ["google-cloud-tasks"] adds every
# module an installed distribution provides.
dispatch-modules = {dispatch}
dispatch-distributions = []
# Packages whose background work must go through dispatch.enqueue_http_task().
protected = {protected}
# What protected code may not import; "pkg.Member" forbids one member of a module.
forbidden-in-protected = {forbidden}
# Imports under `if TYPE_CHECKING:` never run: "ignore" them, or "check" them too.
type-checking = "ignore"
# Globs relative to this file that are never checked.
exclude = []
# Runtime guard: "error" raises ForbiddenImportError; "warn" logs and lets the import happen.
mode = "error"
# TG004: also follow first-party imports out of protected modules.
indirect = false
# Violations accepted for now, written by `taskguard check --write-baseline`; relative to
# this file. The runtime guard never reads it.
baseline = "taskguard-baseline.json"

# A documented exception; `reason` is required and an entry that matches nothing is TG005.
# [[tool.taskguard.allow]]
# importer = "app.api.routers.health"
# imported = "httpx"
# reason = "health probe of the upstream API, not task dispatch"
"""


def _toml_list(values: tuple[str, ...]) -> str:
    items = ", ".join(f'"{v}"' for v in values)
    return f"[{items}]"


def render_table(roots: tuple[str, ...]) -> str:
    return TEMPLATE.format(
        roots=_toml_list(roots),
        roots_note="discovered by taskguard init" if roots else "none found: fill these in",
        sanctioned=_toml_list(DEFAULT_SANCTIONED),
        dispatch=_toml_list(DEFAULT_DISPATCH_MODULES),
        protected=_toml_list(DEFAULT_PROTECTED),
        forbidden=_toml_list(DEFAULT_FORBIDDEN),
    )


def write_table(directory: str | os.PathLike[str]) -> tuple[str, tuple[str, ...]]:
    """Append the table to ``directory/pyproject.toml``; returns its path and the roots.

    Raises :class:`PolicyError` when the file already has a ``[tool.taskguard]`` table or
    is not valid TOML; the file is then left untouched.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

    root = os.path.abspath(directory)
    if not os.path.isdir(root):
        raise PolicyError([("--path", f"not a directory: {directory}")])
    path = os.path.join(root, "pyproject.toml")
    existing = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            existing = fh.read()
        try:
            data = tomllib.loads(existing)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError([("pyproject.toml", f"invalid TOML: {exc}")], path) from None
        tool = data.get("tool")
        if isinstance(tool, dict) and "taskguard" in tool:
            raise PolicyError(
                [("tool.taskguard", "already present; edit it instead of running init")], path
            )
    roots = discover_root_packages(Path(root))
    separator = ""
    if existing:
        separator = "\n" if existing.endswith("\n") else "\n\n"
    content = existing + separator + render_table(roots)
    # Validate what we are about to write, so init never leaves a file taskguard rejects.
    try:
        table = tomllib.loads(content)["tool"]["taskguard"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise PolicyError(
            [("pyproject.toml", f"cannot add [tool.taskguard] to this file: {exc}")], path
        ) from None
    policy_from_table(table, project_root=None)
    temporary = f"{path}.taskguard-init.tmp"
    with open(temporary, "w", encoding="utf-8", newline="") as fh:
        fh.write(content)
    os.replace(temporary, path)
    return path, roots
