"""Real processes on loopback for the demo and the end-to-end tests.

The Cloud Tasks emulator (``python -m dispatch.emulator``) and the example service (uvicorn)
run as subprocesses, each in its own session so that stopping one stops everything it
started. Output goes to files, never pipes: a chatty process can never block on a full
pipe, and the logs stay readable after the process is gone. Readiness is always polled,
never slept for.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "podcast_app"
LEGACY = REPO / "examples" / "podcast_app_legacy"

PROJECT = "taskguard-demo"
LOCATION = "us-central1"
QUEUE_ID = "podcast"
QUEUE = f"projects/{PROJECT}/locations/{LOCATION}/queues/{QUEUE_ID}"
SERVICE_ACCOUNT = "podcast-tasks@taskguard-demo.iam.gserviceaccount.com"
# The emulator publishes its keys at the JWKS URL it logs, and in the PEM form of Google's
# v1 certs endpoint next to it, which google-auth reads without extra packages.
_JWKS_PATH = "/oauth2/v3/certs"
_PEM_CERTS_PATH = "/oauth2/v1/certs"

# Variables a caller's shell may have set that would redirect or bypass what we start.
_SCRUBBED_PREFIXES = ("TASKS_", "PODCAST_", "GOOGLE_CLOUD_PROJECT", "TASKGUARD_")

T = TypeVar("T")


class StackError(RuntimeError):
    """A process did not behave: it exited early, or was not ready in time."""


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll ``probe`` until it returns something other than None (or raise StackError)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe_exit(self) -> str:
        tail = "\n".join(self.stderr().splitlines()[-30:])
        return f"{self.name} exited with {self.popen.returncode}; last stderr lines:\n{tail}"

    def wait_for_output(
        self, pattern: str, *, stream: str = "stdout", timeout: float = 30.0
    ) -> re.Match[str]:
        """The first match of ``pattern`` in the process's output; fails if it exits first."""
        regex = re.compile(pattern, re.MULTILINE)
        read = self.stdout if stream == "stdout" else self.stderr

        def probe() -> re.Match[str] | None:
            match = regex.search(read())
            if match is None and not self.alive():
                # One last read: the line may have landed just before the exit.
                match = regex.search(read())
                if match is None:
                    raise StackError(self.describe_exit())
            return match

        return wait_until(probe, timeout=timeout, what=f"{self.name} to print {pattern!r}")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise StackError(f"{self.name} still running after {timeout:g}s") from None


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel whether the group is still there
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after it.
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


@dataclass
class Processes:
    """Every process started for one run; ``stop_all`` leaves nothing behind."""

    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        pass_fds: Sequence[int] = (),
    ) -> Proc:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stdout_path = self.log_dir / f"{name}.out"
        stderr_path = self.log_dir / f"{name}.err"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(env),
                cwd=cwd,
                pass_fds=tuple(pass_fds),
                # Its own session and process group: stop_all signals the whole group, so
                # whatever it spawned (taskguard run's child, say) goes too.
                start_new_session=True,
            )
        proc = Proc(name, popen, stdout_path, stderr_path)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 10.0) -> None:
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.popen.wait(timeout)
        # The leader is reaped; anything it left in its group goes the same way.
        if _group_members(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            wait_until(
                lambda: True if not _group_members(proc.pid) else None,
                timeout=timeout,
                what=f"the process group of {proc.name} to end",
            )

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)

    def leftovers(self) -> dict[str, list[int]]:
        """Processes still running, per started process (empty when all is clean)."""
        found = {p.name: _group_members(p.pid) for p in self.procs}
        found.update({p.name: [p.pid] for p in self.procs if p.alive()})
        return {name: pids for name, pids in found.items() if pids}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    # The services print JSON logs and the emulator prints console lines: neither should
    # colour them for a terminal it is not writing to.
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


@dataclass(frozen=True)
class EmulatorInfo:
    proc: Proc
    address: str
    jwks_url: str

    @property
    def pem_certs_url(self) -> str:
        return self.jwks_url.removesuffix(_JWKS_PATH) + _PEM_CERTS_PATH


def start_emulator(
    procs: Processes, *, name: str = "emulator", timeout: float = 60.0
) -> EmulatorInfo:
    proc = procs.start(
        name,
        [sys.executable, "-m", "dispatch.emulator", "--port", "0", "--queue", QUEUE],
        env=clean_env(),
    )
    address = proc.wait_for_output(r"\bTASKS_EMULATOR_HOST=(\S+)", timeout=timeout).group(1)
    jwks = proc.wait_for_output(
        r"tasks\.emulator\.started.*?jwks_url=(\S+)", stream="stderr", timeout=timeout
    ).group(1)
    return EmulatorInfo(proc, address, jwks)


@dataclass(frozen=True)
class Service:
    proc: Proc
    base_url: str
    database: Path

    def events(self) -> list[dict[str, Any]]:
        """The structured (JSON) log events the service printed so far."""
        out = []
        for line in self.proc.stderr().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def service_env(
    emulator: EmulatorInfo | None, base_url: str, database: Path, **extra: str
) -> dict[str, str]:
    """The service's environment: dispatch pointed at the emulator, OIDC checked against it.

    Without an emulator the service can start but not send tasks (a start-up check).
    """
    env = clean_env(
        TASKS_PROJECT=PROJECT,
        TASKS_LOCATION=LOCATION,
        TASKS_QUEUE=QUEUE_ID,
        TASKS_BASE_URL=base_url,
        TASKS_SERVICE_ACCOUNT_EMAIL=SERVICE_ACCOUNT,
        PODCAST_DB=str(database),
        PODCAST_LOG_FORMAT="json",
    )
    if emulator is not None:
        env["TASKS_EMULATOR_HOST"] = emulator.address
        env["PODCAST_OIDC_CERTS_URL"] = emulator.pem_certs_url
    env.update(extra)
    return env


def start_service(
    procs: Processes,
    emulator: EmulatorInfo | None,
    *,
    app_dir: Path = EXAMPLE,
    name: str = "service",
    guarded: bool = False,
    wait: bool = True,
    timeout: float = 60.0,
    **extra_env: str,
) -> Service:
    """The example service under uvicorn; ``guarded`` runs it under ``taskguard run``."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "app.main:serve",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    database = procs.log_dir / f"{name}.sqlite3"
    if guarded:
        argv = [sys.executable, "-m", "taskguard", "run", "--", *argv]
    # Bound here and handed over by file descriptor: no window in which another process
    # could take the port we picked (taskguard run passes the descriptor on).
    sock = _listening_socket()
    try:
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        proc = procs.start(
            name,
            [*argv, "--fd", str(sock.fileno())],
            env=service_env(emulator, base_url, database, **extra_env),
            cwd=app_dir,
            pass_fds=[sock.fileno()],
        )
    finally:
        sock.close()
    service = Service(proc, base_url, database)
    if wait:
        wait_ready(service, timeout=timeout)
    return service


def wait_ready(service: Service, *, timeout: float = 60.0) -> None:
    def probe() -> bool | None:
        if not service.proc.alive():
            raise StackError(service.proc.describe_exit())
        try:
            response = httpx.get(service.base_url + "/healthz", timeout=1.0)
        except httpx.TransportError:
            return None
        return True if response.status_code == 200 else None

    wait_until(probe, timeout=timeout, what=f"{service.proc.name} to answer /healthz")


def copy_example(destination: Path, source: Path = EXAMPLE) -> Path:
    """A copy of an example tree to modify freely (never the example itself)."""
    shutil.copytree(
        source,
        destination,
        ignore=shutil.ignore_patterns(
            "__pycache__", ".pytest_cache", ".taskguard_cache", ".ruff_cache", "*.sqlite3*"
        ),
    )
    return destination


@contextlib.contextmanager
def running(log_dir: Path) -> Iterator[Processes]:
    """Processes stopped on the way out, whatever happened."""
    procs = Processes(log_dir)
    try:
        yield procs
    finally:
        procs.stop_all()
