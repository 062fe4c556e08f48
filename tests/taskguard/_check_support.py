"""Helpers for the static-checker tests: tiny projects on disk, and running the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from taskguard import CheckResult, Violation

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
"""
# The console script installed next to the running interpreter (the dev venv's).
SCRIPT = str(Path(sys.executable).with_name("taskguard"))


def write_project(
    root: Path, files: Mapping[str, str | bytes], table: str = TABLE, *, age: bool = True
) -> Path:
    """Write ``pyproject.toml`` and ``files`` (dedented text or raw bytes) under ``root``.

    Package ``__init__.py`` files are added for every directory below the top level. With
    ``age``, every file's mtime is put a minute back, outside the cache's racy window.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(table, encoding="utf-8")
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    for directory in {(root / rel).parent for rel in files}:
        d = directory
        while d != root and d.is_relative_to(root):
            init = d / "__init__.py"
            if not init.exists():
                init.write_text("", encoding="utf-8")
            d = d.parent
    if age:
        age_tree(root)
    return root


def age_tree(root: Path, seconds: float = 60) -> None:
    stamp = time.time() - seconds
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            if name.endswith(".py") and not os.path.islink(path):
                os.utime(path, (stamp, stamp))


def found(result: CheckResult) -> list[tuple[str, int, str, str | None]]:
    """(path, line, code, imported) of every violation: what most tests compare."""
    return [(v.path, v.line, v.code, v.imported) for v in result.violations]


def codes(result: CheckResult) -> list[str]:
    return [v.code for v in result.violations]


def only(result: CheckResult, code: str) -> list[Violation]:
    return [v for v in result.violations if v.code == code]


def run_cli(
    args: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    module: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``taskguard`` console script (or ``python -m taskguard``)."""
    command = [sys.executable, "-m", "taskguard"] if module else [SCRIPT]
    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    environment.update(env or {})
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
