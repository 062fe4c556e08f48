"""Why a run checked no file: a run that judged nothing is no pass, and the user needs to
know which setting (the paths, ``exclude``, ``root-packages``) left every file out.

Only runs that found nothing pay for this second look at the paths.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from taskguard._policy import SKIP_DIRS, Policy, exclude_matcher
from taskguard._static.discover import display_path, module_name

# How many file names a reason shows as examples.
_EXAMPLES = 3


def _shown(paths: list[str]) -> str:
    head = ", ".join(paths[:_EXAMPLES])
    return head + (f" and {len(paths) - _EXAMPLES} more" if len(paths) > _EXAMPLES else "")


def why_nothing(targets: Sequence[str], policy: Policy, root: str, cwd: str) -> str:
    """Why no first-party file was found under ``targets`` (absolute paths)."""
    where = ", ".join(display_path(t, cwd) for t in targets)
    outside = [t for t in targets if os.path.relpath(t, root).startswith(os.pardir)]
    if outside:
        return (
            f"{', '.join(display_path(t, cwd) for t in outside)} is outside the project "
            f"root {display_path(root, cwd)} (where the policy file is)"
        )
    excluded = exclude_matcher(policy.exclude)
    skipped: list[str] = []
    by_exclude: list[str] = []
    foreign: list[str] = []
    for target in targets:
        candidates: list[tuple[str, bool]] = []  # (path relative to root, in a skipped dir)
        if os.path.isfile(target) and target.endswith(".py"):
            candidates.append((os.path.relpath(target, root), False))
        for directory, dirs, files in os.walk(target):
            rel_dir = os.path.relpath(directory, root)
            hidden = any(
                part in SKIP_DIRS or (part.startswith(".") and part not in (".", ".."))
                for part in rel_dir.split(os.sep)
            )
            candidates += [(os.path.join(rel_dir, f), hidden) for f in files if f.endswith(".py")]
            dirs.sort()
        for raw, hidden in candidates:
            rel = os.path.normpath(raw).replace(os.sep, "/")
            shown = display_path(os.path.join(root, rel), cwd)
            parts = rel.split("/")
            if hidden:
                skipped.append(shown)
            elif excluded(rel, False) or any(
                excluded("/".join(parts[:i]), True) for i in range(1, len(parts))
            ):
                by_exclude.append(shown)
            else:
                named = module_name(rel, policy)
                if named is None or not policy.is_first_party(named[0]):
                    foreign.append(shown)
    if not (skipped or by_exclude or foreign):
        return f"no Python files under {where}"
    reasons = []
    if foreign:
        roots = ", ".join(policy.root_packages) or "none (no package found to discover)"
        reasons.append(
            f"{len(foreign)} Python file(s) under {where} ({_shown(foreign)}) are in no root "
            f"package (root-packages = {roots}; set root-packages in [tool.taskguard])"
        )
    if by_exclude:
        reasons.append(
            f"{len(by_exclude)} Python file(s) ({_shown(by_exclude)}) are left out by "
            f"exclude = {list(policy.exclude)}"
        )
    if skipped:
        reasons.append(
            f"{len(skipped)} Python file(s) ({_shown(skipped)}) are in hidden or skipped "
            "directories (virtualenvs, caches, build output)"
        )
    return "; ".join(reasons)
