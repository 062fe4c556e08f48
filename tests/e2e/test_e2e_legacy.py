"""The legacy tree: every escape found statically, and refused at run time."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from examples._stack import EXAMPLE, LEGACY, REPO, Proc, Processes, clean_env

PROBE = REPO / "examples" / "_legacy_probe.py"
TASKGUARD = (sys.executable, "-m", "taskguard")

# (rule, importer, imported) of each way background work left the legacy service.
EXPECTED_STATIC = {
    ("TG001", "app.queue", "google.cloud.tasks_v2"),
    ("TG002", "app.api.services.episodes.assembler", "httpx"),
    ("TG002", "app.worker.tasks.transcribe", "multiprocessing"),
    ("TG002", "app.api.routers.media", "requests"),
    ("TG003", "app.api.services.episodes.notifier", None),
}
# At run time the dynamic import has a name (HTTP_CLIENT=httpx), judged like any other.
EXPECTED_RUNTIME = {
    ("TG002", importer, "httpx") if code == "TG003" else (code, importer, imported)
    for code, importer, imported in EXPECTED_STATIC
}


def _finish(proc: Proc) -> tuple[int, str]:
    status = proc.wait_exit(timeout=120)
    return status, proc.stdout()


def test_check_finds_every_escape_in_the_legacy_tree_and_none_after_the_refactor(
    procs: Processes,
) -> None:
    def check(name: str, tree: Path) -> Proc:
        argv = [*TASKGUARD, "check", "--no-cache", "--format", "json"]
        return procs.start(name, argv, env=clean_env(), cwd=tree)

    legacy_run, clean_run = check("check-legacy", LEGACY), check("check-clean", EXAMPLE)
    (legacy_status, legacy_out), (clean_status, clean_out) = map(_finish, (legacy_run, clean_run))

    assert legacy_status == 1, legacy_run.stderr()
    violations = json.loads(legacy_out)["violations"]
    assert {(v["code"], v["importer"], v["imported"]) for v in violations} == EXPECTED_STATIC
    assert clean_status == 0, clean_out + clean_run.stderr()
    report = json.loads(clean_out)
    assert report["violations"] == []
    assert report["files_checked"] > 10


def _outcomes(proc: Proc) -> list[dict[str, Any]]:
    status, out = _finish(proc)
    assert status == 0, proc.stderr()
    return [json.loads(line) for line in out.splitlines()]


def test_the_runtime_guard_refuses_each_escape_when_the_code_runs(procs: Processes) -> None:
    # Both at once: each is mostly interpreter start-up and imports.
    probe = [sys.executable, str(PROBE)]
    plain_run = procs.start("probe-plain", probe, env=clean_env(), cwd=LEGACY)
    guarded_run = procs.start(
        "probe-guarded", [*TASKGUARD, "run", "--", *probe], env=clean_env(), cwd=LEGACY
    )
    plain, guarded = _outcomes(plain_run), _outcomes(guarded_run)

    # Unguarded, every path runs (failing only later, on the network or credentials).
    assert len(plain) == len(EXPECTED_STATIC)
    assert {p["outcome"] for p in plain} == {"ran"}
    assert all(g["outcome"] == "blocked" for g in guarded), guarded
    assert {(g["code"], g["importer"], g["imported"]) for g in guarded} == EXPECTED_RUNTIME
