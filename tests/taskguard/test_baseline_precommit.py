"""The repository's pre-commit hook (``.pre-commit-hooks.yaml``) honours the baseline.

pre-commit itself installs this repository into a hook environment (``try-repo``) and runs
the hook on a small git project, as a user's ``.pre-commit-config.yaml`` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from _check_support import run_cli, write_project

REPO = Path(__file__).resolve().parents[2]
TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.api"]
forbidden-in-protected = ["httpx", "requests"]
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, timeout=60)


def hook(root: Path, home: Path) -> subprocess.CompletedProcess[str]:
    git(root, "add", "-A")  # --all-files means every file git tracks
    environment = {
        **os.environ,
        "PRE_COMMIT_HOME": str(home),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    environment.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "taskguard", "--all-files"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_pre_commit_hook_reads_the_baseline(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", {"app/api/routers.py": "import httpx\n"}, TABLE)
    git(root, "init", "-q")
    assert run_cli(["check", "--write-baseline"], root).returncode == 0
    home = tmp_path / "pre-commit-home"

    clean = hook(root, home)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "taskguard check" in clean.stdout
    assert "Passed" in clean.stdout

    (root / "app/api/routers.py").write_text("import httpx\nimport requests\n")
    dirty = hook(root, home)
    assert dirty.returncode == 1, dirty.stdout + dirty.stderr
    assert "app/api/routers.py:2:1: TG002" in dirty.stdout
    assert "app/api/routers.py:1:1" not in dirty.stdout
    assert "1 baselined (taskguard-baseline.json)" in dirty.stdout

    (root / "taskguard-baseline.json").write_text(
        textwrap.dedent('{"version": 1, "entries": [{"code": "TG002"}]}')
    )
    broken = hook(root, home)
    assert broken.returncode == 1, broken.stdout  # pre-commit's own status for a failed hook
    assert "exit code: 2" in broken.stdout
    assert "invalid baseline taskguard-baseline.json" in broken.stdout
    assert "entries[0].importer: missing" in broken.stdout
    assert "Traceback" not in broken.stdout
