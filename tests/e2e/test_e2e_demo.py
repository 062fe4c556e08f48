"""``make demo`` reports a step that does not behave as narrated, and exits non-zero.

The whole demo is run by hand from a fresh clone (it takes as long as the rest of this
directory); here its static steps run against the repository and against a copy whose legacy
tree lost one of its escapes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from examples._stack import REPO, Processes, clean_env

STATIC_STEPS = ("--step", "1", "--step", "2", "--step", "3")


def test_the_demo_fails_when_a_step_does_not_behave_as_narrated(
    tmp_path: Path, procs: Processes
) -> None:
    shutil.copytree(
        REPO / "examples",
        tmp_path / "examples",
        ignore=shutil.ignore_patterns("__pycache__", ".*_cache", "*.sqlite3*"),
    )
    # The legacy service without its home-made Cloud Tasks client: one escape fewer.
    (tmp_path / "examples" / "podcast_app_legacy" / "app" / "queue.py").unlink()
    demo = [sys.executable, "-m", "examples.demo", *STATIC_STEPS]

    intact = procs.start("demo-intact", demo, env=clean_env(), cwd=REPO)
    # Its logs are kept on failure: under tmp_path, not in the system temp directory.
    altered_env = clean_env(TMPDIR=str(tmp_path))
    altered = procs.start("demo-altered", demo, env=altered_env, cwd=tmp_path)

    assert intact.wait_exit(timeout=120) == 0, intact.stdout() + intact.stderr()
    assert intact.stdout().count("\n  ok\n") == 3
    assert altered.wait_exit(timeout=120) == 1, altered.stdout() + altered.stderr()
    out = altered.stdout()
    assert "expected violations ['TG001', 'TG002', 'TG002', 'TG002', 'TG003']" in out
    assert "a legacy path was not refused" in out
    assert "demo FAILED (taskguard check: the legacy service, the runtime guard on" in out
