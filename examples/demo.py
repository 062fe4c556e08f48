"""``make demo``: taskguard and dispatch on the example service, narrated, in real processes.

Everything runs on 127.0.0.1 with no cloud account: the static check on the service before
and after its refactor, the runtime guard refusing the legacy code paths, the Cloud Tasks
emulator delivering a transcribe and an assemble task to the service, and ``taskguard run``
refusing to start a service whose router imports an HTTP client. Each step checks that it
behaved as narrated; the exit status is non-zero if any did not. No process is left behind.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from examples._stack import (
    EXAMPLE,
    LEGACY,
    REPO,
    EmulatorInfo,
    Processes,
    StackError,
    clean_env,
    copy_example,
    start_emulator,
    start_service,
    wait_until,
)

PROBE = REPO / "examples" / "_legacy_probe.py"
INDENT = "    "


class StepFailed(Exception):
    """A step did not behave as narrated."""


def say(text: str = "") -> None:
    print(text, flush=True)


def show(text: str, limit: int = 40) -> None:
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines[:limit]:
        say(INDENT + line)
    if len(lines) > limit:
        say(f"{INDENT}... ({len(lines) - limit} more lines)")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


def run(argv: Sequence[str], *, cwd: Path, shown: str) -> subprocess.CompletedProcess[str]:
    say(f"  $ {shown}")
    return subprocess.run(
        list(argv), cwd=cwd, env=clean_env(), capture_output=True, text=True, check=False
    )


def taskguard(*args: str) -> list[str]:
    return [sys.executable, "-m", "taskguard", *args]


def relative(path: Path) -> str:
    return str(path.relative_to(REPO))


# --- the steps ---------------------------------------------------------------------------


def check_clean() -> None:
    say("The refactored service sends background work only through dispatch.enqueue_http_task.")
    result = run(
        taskguard("check", "--no-cache", relative(EXAMPLE)),
        cwd=REPO,
        shown=f"taskguard check {relative(EXAMPLE)}",
    )
    show(result.stdout + result.stderr)
    expect(result.returncode == 0, f"expected exit 0, got {result.returncode}")
    expect("No violations" in result.stdout, "expected 'No violations'")


LEGACY_CODES = ["TG001", "TG002", "TG002", "TG002", "TG003"]


def check_legacy() -> None:
    say("The same service before the refactor, under the same policy:")
    result = run(
        taskguard("check", "--no-cache", relative(LEGACY)),
        cwd=REPO,
        shown=f"taskguard check {relative(LEGACY)}",
    )
    show(result.stdout + result.stderr)
    codes = sorted(re.findall(r"^\S+:\d+:\d+: (TG\d{3}) ", result.stdout, re.MULTILINE))
    expect(result.returncode == 1, f"expected exit 1, got {result.returncode}")
    expect(codes == LEGACY_CODES, f"expected violations {LEGACY_CODES}, got {codes}")


def guard_legacy() -> None:
    say("Each of those paths, run under the runtime guard (taskguard run), is refused where")
    say("it imports, lazy and dynamic imports included:")
    result = run(
        taskguard("run", "--", sys.executable, str(PROBE)),
        cwd=LEGACY,
        shown=f"cd {relative(LEGACY)} && taskguard run -- python {relative(PROBE)}",
    )
    outcomes = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    for outcome in outcomes:
        verdict = (
            f"refused {outcome['code']}: {outcome['importer']} -> {outcome['imported']}"
            if outcome["outcome"] == "blocked"
            else f"NOT refused ({outcome['outcome']}, {outcome['error']})"
        )
        say(f"{INDENT}{outcome['scenario']:<48} {verdict}")
    expect(result.returncode == 0, f"probe failed:\n{result.stderr}")
    expect(len(outcomes) == len(LEGACY_CODES), f"expected 5 outcomes, got {len(outcomes)}")
    expect(all(o["outcome"] == "blocked" for o in outcomes), "a legacy path was not refused")


def _delivery_lines(emulator: EmulatorInfo) -> list[dict[str, str]]:
    pairs = re.compile(r"""(\w+)=('(?:[^'\\]|\\.)*'|\S+)""")
    return [
        {k: v.strip("'") for k, v in pairs.findall(line)}
        for line in emulator.proc.stderr().splitlines()
        if "tasks.emulator.delivery" in line
    ]


_SHOWN_EVENTS = (
    "tasks.enqueue_http_task.created",
    "tasks.enqueue_http_task.duplicate",
    "worker.",
)
_SHOWN_FIELDS = ("path", "task_id", "task", "retry", "attempt", "payload_size", "error")


def _event_line(event: dict[str, Any]) -> str:
    fields = " ".join(f"{k}={event[k]}" for k in _SHOWN_FIELDS if k in event)
    return f"{event.get('level', ''):<7} {event['event']:<34} {fields}"


def flow(procs: Processes) -> None:
    say("Start the Cloud Tasks emulator and the service (under taskguard run, guard in error")
    say("mode), both on 127.0.0.1. The transcription engine fails every first attempt")
    say("(PODCAST_FLAKY_TRANSCRIBE=1) so that Cloud Tasks' retry can be seen.")
    emulator = start_emulator(procs)
    say(f"{INDENT}emulator:  TASKS_EMULATOR_HOST={emulator.address}")
    service = start_service(procs, emulator, guarded=True, PODCAST_FLAKY_TRANSCRIBE="1")
    say(f"{INDENT}service:   {service.base_url}  (TASKS_BASE_URL; task endpoints need OIDC)")
    say()

    key = f"upload-{uuid.uuid4().hex[:8]}"
    body = {"title": "Queues, explained", "audio_url": "https://media.example/ep1.mp3"}
    say(f"  POST /api/episodes  (Idempotency-Key: {key})")
    first = httpx.post(
        service.base_url + "/api/episodes",
        json=body,
        headers={"Idempotency-Key": key},
        timeout=30,
    )
    expect(first.status_code == 202, f"expected 202, got {first.status_code}: {first.text}")
    episode_id = first.json()["episode"]["id"]
    say(f"{INDENT}202: episode {episode_id}, task {first.json()['task']['name']}")
    say("  POST /api/episodes  again, same key (a client retrying)")
    again = httpx.post(
        service.base_url + "/api/episodes",
        json=body,
        headers={"Idempotency-Key": key},
        timeout=30,
    )
    expect(again.status_code == 200, f"expected 200, got {again.status_code}")
    expect(again.json()["task"]["created"] is False, "the repeated request created a task")
    say(f"{INDENT}200: same episode, task created: {again.json()['task']['created']}")

    def assembled() -> dict[str, Any] | None:
        state: dict[str, Any] = httpx.get(
            f"{service.base_url}/api/episodes/{episode_id}", timeout=10
        ).json()
        return state if state["status"] == "assembled" else None

    state = wait_until(assembled, timeout=30, what="the episode to be assembled")
    kinds = [(a["kind"], a["retry_count"], a["outcome"]) for a in state["attempts"]]
    expect(
        kinds == [("transcribe", 0, "failed"), ("transcribe", 1, "done"), ("assemble", 0, "done")],
        f"unexpected task attempts: {kinds}",
    )
    # The emulator logs a delivery once the worker has answered: wait for the last one.
    wait_until(
        lambda: (
            True if sum(d.get("status") == "200" for d in _delivery_lines(emulator)) >= 2 else None
        ),
        timeout=30,
        what="the emulator to log both successful deliveries",
    )
    say()
    say("  The service's structured log (JSON events, selected fields):")
    for event in service.events():
        if event.get("event", "").startswith(_SHOWN_EVENTS):
            say(INDENT + _event_line(event))
    say("  The emulator's deliveries (each with an OIDC token the worker verified):")
    for d in _delivery_lines(emulator):
        path = d.get("target", "").removeprefix(service.base_url)
        retry, status, fate = d.get("retry_count"), d.get("status"), d.get("fate")
        say(f"{INDENT}POST {path:<22} retry={retry} -> {status} ({fate})")
    say()
    say(f"  GET /api/episodes/{episode_id}")
    say(
        f"{INDENT}status={state['status']} chapters={state['chapters']} "
        f"transcript={state['transcript'][:40]!r}..."
    )

    say("  POST /api/tasks/transcribe without a token (anyone who found the URL)")
    intruder = httpx.post(
        service.base_url + "/api/tasks/transcribe", json={"episode_id": episode_id}, timeout=10
    )
    say(f"{INDENT}{intruder.status_code}: {intruder.json()}")
    expect(intruder.status_code == 401, f"expected 401, got {intruder.status_code}")
    for log in (service.proc.stderr(), emulator.proc.stderr()):
        expect("eyJ" not in log and "Bearer " not in log, "a token reached a log")
        expect(body["title"] not in log, "a payload reached a log")


def refuse_forbidden_import(procs: Processes, workdir: Path) -> None:
    say("Someone adds `import httpx` to a router of (a copy of) the refactored service:")
    tree = copy_example(workdir / "podcast_app_edited")
    router = tree / "app" / "api" / "routers" / "health.py"
    source = router.read_text()
    router.write_text(
        source.replace(
            "from fastapi import APIRouter\n", "import httpx\nfrom fastapi import APIRouter\n"
        )
    )
    say("  $ taskguard run -- uvicorn --factory app.main:serve")
    service = start_service(procs, None, app_dir=tree, name="edited", guarded=True, wait=False)
    status = service.proc.wait_exit(timeout=60)
    refusal = [
        line for line in service.proc.stderr().splitlines() if "ForbiddenImportError" in line
    ]
    for line in refusal[-1:]:
        show(line.replace(str(workdir) + "/", ""))
    say(f"{INDENT}exit status {status}: the service did not start")
    expect(status != 0, "the service started anyway")
    expect(
        any("TG002: app.api.routers.health may not import httpx" in line for line in refusal),
        "no ForbiddenImportError naming the router and httpx",
    )


# --- driver --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__)
    parser.add_argument(
        "--step",
        type=int,
        action="append",
        metavar="N",
        help="run only step N (repeatable); default: every step",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("taskguard check: the refactored service", check_clean),
        ("taskguard check: the legacy service", check_legacy),
        ("the runtime guard on the legacy code paths", guard_legacy),
        ("a transcribe and an assemble task, end to end", lambda: flow(procs)),
        (
            "taskguard run refuses a forbidden import",
            lambda: refuse_forbidden_import(procs, workdir),
        ),
    ]
    chosen = set(args.step or range(1, len(steps) + 1))
    if not chosen <= set(range(1, len(steps) + 1)):
        _parser().error(f"--step must be between 1 and {len(steps)}")
    # Assigned before any step runs: the steps above read them when called.
    workdir = Path(tempfile.mkdtemp(prefix="taskguard-demo-"))
    procs = Processes(workdir / "logs")
    failed: list[str] = []
    started = time.monotonic()
    try:
        for number, (title, step) in enumerate(steps, 1):
            if number not in chosen:
                continue
            say(f"\n== {number}/{len(steps)} {title}")
            try:
                step()
            except (StepFailed, StackError, httpx.HTTPError) as exc:
                failed.append(title)
                say(f"  FAILED: {exc}")
            else:
                say("  ok")
    except KeyboardInterrupt:
        failed.append("interrupted")
    finally:
        procs.stop_all()
    left = procs.leftovers()
    say(f"\n== {len(procs.procs)} processes started and stopped; left behind: {left or 'none'}")
    if left:
        failed.append("processes left behind")
    if failed:
        say(f"demo FAILED ({', '.join(failed)}); logs kept in {workdir / 'logs'}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    say(f"demo OK in {time.monotonic() - started:.1f}s: every step behaved as narrated.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
