"""The package's own layering, enforced by import-linter (the contract is in pyproject.toml).

CI runs ``lint-imports`` too (.ci/run); this runs it locally with the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(pythonpath)},
    )


def test_the_layers_contract_is_kept() -> None:
    out = lint_imports(REPO, REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 3 kept, 0 broken." in out.stdout


def test_an_import_against_the_layers_breaks_the_contract(tmp_path: Path) -> None:
    # The same contract on a copy of the package in which the policy imports the checker.
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        REPO / "taskguard", tmp_path / "taskguard", ignore=shutil.ignore_patterns("__pycache__")
    )
    policy = tmp_path / "taskguard" / "_policy.py"
    policy.write_text(
        policy.read_text(encoding="utf-8") + "\nfrom taskguard._static import run as _run\n",
        encoding="utf-8",
    )
    out = lint_imports(tmp_path, tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "taskguard._policy is not allowed to import taskguard._static" in out.stdout
