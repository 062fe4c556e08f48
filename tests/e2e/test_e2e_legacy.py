"""The legacy tree: every escape found statically, and refused at run time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from examples._stack import EXAMPLE, LEGACY, REPO, clean_env

PROBE = REPO / "examples" / "_legacy_probe.py"

# (rule, importer, imported) of each way background work left the legacy service.
EXPECTED_STATIC = {
    ("TG001", "app.queue", "google.cloud.tasks_v2"),
    ("TG002", "app.api.services.episodes.assembler", "httpx"),
    ("TG002", "app.worker.tasks.transcribe", "multiprocessing"),
    ("TG002", "app.api.routers.media", "requests"),
    ("TG003", "app.api.services.episodes.notifier", None),
}
# At run time the dynamic import has a name, so it is judged like any other.
EXPECTED_RUNTIME = {
    (code, importer, imported or "httpx") for code, importer, imported in EXPECTED_STATIC
}
EXPECTED_RUNTIME = {
    ("TG002" if code == "TG003" else code, importer, imported)
    for code, importer, imported in EXPECTED_RUNTIME
}


def _taskguard(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskguard", *args],
        cwd=cwd,
        check=False,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_finds_every_escape_in_the_legacy_tree_and_none_after_the_refactor() -> None:
    legacy = _taskguard("check", "--no-cache", "--format", "json", cwd=LEGACY)
    clean = _taskguard("check", "--no-cache", "--format", "json", cwd=EXAMPLE)

    assert legacy.returncode == 1, legacy.stderr
    found = {
        (v["code"], v["importer"], v["imported"]) for v in json.loads(legacy.stdout)["violations"]
    }
    assert found == EXPECTED_STATIC
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads(clean.stdout)
    assert report["violations"] == []
    assert report["files_checked"] > 10


def _probe(*prefix: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*prefix, sys.executable, str(PROBE)],
        cwd=LEGACY,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _outcomes(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_the_runtime_guard_refuses_each_escape_when_the_code_runs() -> None:
    # Both at once: each is mostly interpreter start-up and imports.
    plain_run = _probe()
    guarded_run = _probe(sys.executable, "-m", "taskguard", "run", "--")
    plain, guarded = _outcomes(plain_run), _outcomes(guarded_run)

    # Unguarded, every path runs (failing only later, on the network or credentials).
    assert len(plain) == len(EXPECTED_STATIC)
    assert {p["outcome"] for p in plain} == {"ran"}
    assert all(g["outcome"] == "blocked" for g in guarded), guarded
    assert {(g["code"], g["importer"], g["imported"]) for g in guarded} == EXPECTED_RUNTIME
