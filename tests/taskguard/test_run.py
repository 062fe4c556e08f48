"""`taskguard run`, through the installed console script, on a project in a temp directory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = shutil.which("taskguard", path=str(Path(sys.executable).parent))
PY = sys.executable

PYPROJECT = """
[tool.taskguard]
root-packages = ["app"]
protected = ["app.api.routers", "app.worker"]
forbidden-in-protected = ["fakehttp"]
"""

FILES = {
    "app/__init__.py": "",
    "app/api/__init__.py": "",
    "app/api/routers/__init__.py": """
        def clean():
            import json
            return json.dumps([1])

        def lazy():
            import fakehttp
    """,
    "app/services/__init__.py": "",
    "app/services/loader.py": "import fakehttp\n",
    "app/worker/__init__.py": "",
    "app/worker/tasks.py": """
        import sys

        def job():
            import fakehttp

        if __name__ == "__main__":
            import app.services.loader  # unprotected: fakehttp is loaded from here on
            print("main builtins:", type(__builtins__).__name__, flush=True)
            job()
    """,
    "fakehttp/__init__.py": "",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert SCRIPT is not None, "the taskguard console script is not installed"
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    for rel, text in FILES.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # no recompiling per run
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    return tmp_path


def taskguard_run(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None
    return subprocess.run(
        [SCRIPT, "run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


CHILD = (
    "import subprocess, sys\n"
    "import app.api.routers as routers\n"
    "print('parent', routers.clean(), flush=True)\n"
    "code = subprocess.call([sys.executable, '-c', "
    "'import app.api.routers as r; print(\"child\", r.clean(), flush=True); r.lazy()'])\n"
    "sys.exit(code)\n"
)


def test_guard_in_the_command_and_its_children(project: Path) -> None:
    proc = taskguard_run("--", PY, "-c", CHILD)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == ["parent [1]", "child [1]"]
    assert "Traceback (most recent call last):" in proc.stderr
    assert (
        "taskguard._errors.ForbiddenImportError: TG002: app.api.routers may not import fakehttp "
        f"at {project / 'app/api/routers/__init__.py'}:6; dispatch background work with "
        "dispatch.enqueue_http_task() instead"
    ) in proc.stderr


def test_python_dash_m_main_is_guarded(project: Path) -> None:
    proc = taskguard_run("--", PY, "-m", "app.worker.tasks")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "main builtins: _GuardedBuiltins\n"
    assert "TG002: app.worker.tasks may not import fakehttp" in proc.stderr
    assert f"{project / 'app/worker/tasks.py'}:4;" in proc.stderr

    unguarded = subprocess.run(
        [PY, "-m", "app.worker.tasks"], capture_output=True, text=True, timeout=60, check=False
    )
    assert unguarded.returncode == 0, unguarded.stderr
    assert unguarded.stdout == "main builtins: module\n"


def test_warn_mode_logs_and_lets_the_import_happen(project: Path) -> None:
    proc = taskguard_run("--mode", "warn", "--", PY, "-c", CHILD)
    assert proc.returncode == 0, proc.stderr
    # the program's stdout is its own: the event goes to stderr (structlog unconfigured)
    assert proc.stdout.splitlines() == ["parent [1]", "child [1]"]
    (event,) = [line for line in proc.stderr.splitlines() if "taskguard.forbidden_import" in line]
    for field in (
        "code=TG002",
        "importer=app.api.routers",
        "imported=fakehttp",
        f"file={project / 'app/api/routers/__init__.py'}",
        "line=6",
        "dispatch.enqueue_http_task()",
    ):
        assert field in event, (field, event)
    assert "ForbiddenImportError" not in proc.stderr

    # a program that configured structlog gets the event where it sends its logs
    configured = (
        "import sys, structlog\n"
        "structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stdout))\n"
        "import app.api.routers as routers\n"
        "routers.lazy()\n"
    )
    proc = taskguard_run("--mode", "warn", "--", PY, "-c", configured)
    assert proc.returncode == 0, proc.stderr
    assert "taskguard.forbidden_import" in proc.stdout
    assert "taskguard.forbidden_import" not in proc.stderr


def test_exit_status_passes_through(project: Path) -> None:
    assert taskguard_run("--", PY, "-c", "raise SystemExit(7)").returncode == 7
    killed = taskguard_run("--", PY, "-c", "import os, signal; os.kill(os.getpid(), 15)")
    assert killed.returncode == 128 + 15
    missing = taskguard_run("--", "no-such-command-anywhere")
    assert missing.returncode == 127
    assert "command not found: no-such-command-anywhere" in missing.stderr


def test_chains_to_an_existing_sitecustomize(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("othersite")
    (other / "sitecustomize.py").write_text("import os\nos.environ['CHAINED'] = 'yes'\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(other)])}
    code = (
        "import os, sys\n"
        "from taskguard._hook import active_guard\n"
        "print(os.environ.get('CHAINED'), active_guard() is not None, "
        "sys.modules['sitecustomize'].__file__)\n"
    )
    proc = taskguard_run("--", PY, "-c", code, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"yes True {other / 'sitecustomize.py'}"


def test_a_bad_policy_fails_closed(project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT + 'protectd = ["app"]\n')
    proc = taskguard_run("--", PY, "-c", "print('ran')")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "protectd: unknown key; did you mean 'protected'?" in proc.stderr

    # a process of the tree that cannot load the policy stops instead of running unguarded
    bootstrap = Path(__import__("taskguard").__file__).parent / "_bootstrap"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(bootstrap), str(project)]),
        "TASKGUARD_ROOT": str(project),
    }
    proc = subprocess.run(
        [PY, "-c", "print('ran')"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert f"taskguard: cannot install the runtime guard in {PY}: PolicyError:" in proc.stderr
    assert "protectd: unknown key" in proc.stderr

    # a bad --config, and a mode no process of the tree could use
    proc = taskguard_run("--config", "missing.toml", "--", PY, "-c", "print('ran')")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert "missing.toml" in proc.stderr
    (project / "broken.toml").write_text("[tool.taskguard\n")
    proc = taskguard_run("--config", "broken.toml", "--", PY, "-c", "print('ran')")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert "broken.toml" in proc.stderr
    env["TASKGUARD_MODE"] = "loud"
    (project / "pyproject.toml").write_text(PYPROJECT)
    proc = subprocess.run(
        [PY, "-c", "print('ran')"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert "mode: expected 'error' or 'warn', got 'loud'" in proc.stderr


def test_inherited_descriptors_reach_the_command(project: Path) -> None:
    # Regression: the command was started with close_fds=True.
    assert SCRIPT is not None
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.run(
            [SCRIPT, "run", "--", PY, "-c", f"import os; os.write({write_end}, b'reached')"],
            pass_fds=[write_end],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(write_end)
        write_end = -1
        assert proc.returncode == 0, proc.stderr
        assert os.read(read_end, 100) == b"reached"
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)


def test_no_command_is_a_usage_error(project: Path) -> None:
    proc = taskguard_run()
    assert proc.returncode == 2
    assert "run needs a command" in proc.stderr


WAIT_FOR_SIGNAL = """
import signal, sys, time

def handler(signum, frame):
    print("got", signal.Signals(signum).name, flush=True)
    sys.exit(3)

signal.signal(signal.SIGTERM, handler)
signal.signal(signal.SIGINT, handler)
print("ready", flush=True)
time.sleep(60)  # on purpose: the child waits for the signal under test (exit 9 if none came)
sys.exit(9)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_reach_the_command(project: Path, signum: signal.Signals) -> None:
    # Sent to taskguard run alone (a supervisor, `kill`; no terminal here): passed on, and
    # the command's own exit status comes back.
    assert SCRIPT is not None
    proc = subprocess.Popen(
        [SCRIPT, "run", "--", PY, "-c", WAIT_FOR_SIGNAL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no controlling terminal: nothing else delivers it
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 3, err
    assert out == f"got {signum.name}\n"


def test_a_command_that_is_not_python(project: Path) -> None:
    shell = shutil.which("sh")
    assert shell is not None
    line = f'"{PY}" -c "import app.api.routers as r; print(r.clean()); r.lazy()"; exit 5'
    proc = taskguard_run("--", shell, "-c", line)
    assert proc.returncode == 5
    assert proc.stdout == "[1]\n"
    assert "ForbiddenImportError: TG002: app.api.routers may not import fakehttp" in proc.stderr


REPORT = (
    "import sys\n"
    "print('taskguard._hook' in sys.modules and sys.modules['taskguard._hook']._active is not None)"
)


def test_interpreters_that_skip_pythonpath_or_site(project: Path) -> None:
    # The command itself: refused, it would run unguarded.
    for flag in ("-I", "-S", "-E", "-BI"):
        proc = taskguard_run("--", PY, flag, "-c", "print('ran')")
        assert (proc.returncode, proc.stdout) == (2, ""), (flag, proc.stderr)
        assert "would run unguarded" in proc.stderr
    assert taskguard_run("--", PY, "-X", "importtime", "-c", "pass").returncode == 0
    # Regression: the value of --check-hash-based-pycs ended the scan, so -I went unseen.
    proc = taskguard_run("--", PY, "--check-hash-based-pycs", "always", "-I", "-c", "print(1)")
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert "-I ignores PYTHONPATH" in proc.stderr
    assert taskguard_run("--", PY, "-c", "pass", "-I").returncode == 0  # an argument of -c
    # A launcher in front of the interpreter is not looked into: the documented limit.
    proc = taskguard_run("--", "env", PY, "-I", "-c", REPORT)
    assert (proc.returncode, proc.stdout) == (0, "False\n"), proc.stderr

    # Children the command starts with them are not guarded: the documented limit.
    code = (
        "import subprocess, sys\n"
        f"print({REPORT.splitlines()[1][6:-1]}, flush=True)\n"
        "for flags in (['-I'], ['-S'], ['-E']):\n"
        f"    subprocess.run([sys.executable, *flags, '-c', {REPORT!r}])\n"
    )
    proc = taskguard_run("--", PY, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False", "False", "False"]


def test_a_child_with_its_own_pythonpath(project: Path) -> None:
    # Extending PYTHONPATH keeps the bootstrap; replacing it drops the guard (documented).
    code = (
        "import os, subprocess, sys\n"
        "extended = os.environ['PYTHONPATH'] + os.pathsep + 'extra'\n"
        "for path in (extended, os.getcwd()):\n"
        "    env = {**os.environ, 'PYTHONPATH': path}\n"
        f"    subprocess.run([sys.executable, '-c', {REPORT!r}], env=env)\n"
    )
    proc = taskguard_run("--", PY, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False"]


def _other_interpreter(*versions: str) -> str | None:
    for version in versions:
        if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
            continue
        found = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
        if found:
            return str(found[-1])
    return None


def test_another_interpreter_without_taskguard_installed(project: Path) -> None:
    # The bootstrap loads the guard from taskguard's own directory: a Python that has no
    # taskguard (another venv, a system Python) is guarded all the same.
    other = _other_interpreter("3.12", "3.13")
    if other is None:
        pytest.skip("no CPython 3.12/3.13 other than the running one under ~/.pyenv/versions")
    probe = subprocess.run([other, "-c", "import taskguard"], capture_output=True, check=False)
    assert probe.returncode != 0
    line = "import app.api.routers as r; print(r.clean()); r.lazy()"
    proc = taskguard_run("--", other, "-c", line)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "[1]\n"
    assert "ForbiddenImportError: TG002: app.api.routers may not import fakehttp" in proc.stderr

    # Before 3.11 reading pyproject.toml needs tomli: without it the process stops.
    older = _other_interpreter("3.10")
    if older is None:
        return
    probe = subprocess.run([older, "-c", "import tomli"], capture_output=True, check=False)
    has_tomli = probe.returncode == 0
    proc = taskguard_run("--", older, "-c", line)
    if has_tomli:
        assert proc.returncode == 1, proc.stderr
        assert "ForbiddenImportError: TG002" in proc.stderr
    else:
        assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
        assert "needs tomli" in proc.stderr


# --------------------------------------------------------------------------- in a terminal

# Started as the leader of a new session, it opens the pty by name (so it becomes the
# controlling terminal, its group the foreground one) and becomes `taskguard run`.
LAUNCH_IN_TERMINAL = (
    "import os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR)\n"
    "for target in (0, 1, 2):\n"
    "    os.dup2(fd, target)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


class Terminal:
    """``taskguard run -- python -c WAIT_FOR_SIGNAL`` in the foreground of a pty."""

    def __init__(self) -> None:
        assert SCRIPT is not None
        self.master, slave = os.openpty()
        name = os.ttyname(slave)
        self.proc = subprocess.Popen(
            [PY, "-c", LAUNCH_IN_TERMINAL, name, SCRIPT, "run", "--", PY, "-c", WAIT_FOR_SIGNAL],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # kept open until the command is up: a master with no slave open reads EIO
        self.slave: int | None = slave
        self.output = ""

    def read_until(self, text: str, deadline: float) -> bool:
        import select
        import time

        while text not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: every end of the terminal is closed
                return text in self.output
            if not chunk:
                return text in self.output
            self.output += chunk.decode(errors="replace")
        return True

    def release(self) -> None:
        if self.slave is not None:
            os.close(self.slave)
            self.slave = None

    def close(self) -> None:
        self.release()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def terminal(project: Path) -> Iterator[Terminal]:
    import time

    term = Terminal()
    try:
        assert term.read_until("ready", time.monotonic() + 60), term.output
        term.release()
        # taskguard run leads the terminal's foreground process group, the command in it
        assert os.tcgetpgrp(term.master) == term.proc.pid
        yield term
    finally:
        term.close()


def test_kill_int_from_a_script_is_forwarded_in_a_terminal(terminal: Terminal) -> None:
    # Regression: judged by the process group alone, a `kill -INT` sent to taskguard run
    # while it sat in the terminal's foreground group was taken for Ctrl-C and dropped.
    import time

    os.kill(terminal.proc.pid, signal.SIGINT)
    assert terminal.read_until("got SIGINT", time.monotonic() + 60), terminal.output
    assert terminal.proc.wait(timeout=60) == 3
    terminal.read_until("\0", time.monotonic() + 5)  # drain what is left
    assert terminal.output.count("got SIGINT") == 1, terminal.output


def test_ctrl_c_in_the_terminal_reaches_the_command_once(terminal: Terminal) -> None:
    import time

    os.write(terminal.master, b"\x03")  # the line discipline signals the foreground group
    assert terminal.read_until("got SIGINT", time.monotonic() + 60), terminal.output
    assert terminal.proc.wait(timeout=60) == 3
    terminal.read_until("\0", time.monotonic() + 5)
    assert terminal.output.count("got SIGINT") == 1, terminal.output


# --------------------------------------------------------------------------- pytest, swallowed


def test_pytest_with_warnings_as_errors(project: Path) -> None:
    # Regression: pytest warned (PytestAssertRewriteWarning) that taskguard, imported by the
    # bootstrap, could not be rewritten; filterwarnings = error turned that into a crash.
    with (project / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n')
    (project / "test_app.py").write_text(
        "import pytest\n"
        "from taskguard import ForbiddenImportError\n"
        "import app.api.routers as routers\n\n"
        "def test_clean():\n"
        "    assert routers.clean() == '[1]'\n\n"
        "def test_blocked():\n"
        "    with pytest.raises(ForbiddenImportError):\n"
        "        routers.lazy()\n"
    )
    # The session enforces the program's guard as its own, so it adds the taskguard-check
    # item, which fails on routers' lazy import: -k leaves it out.
    for extra in ((), ("-W", "error"), ("-p", "no:taskguard"), ("-p", "xdist", "-n", "2")):
        proc = taskguard_run(
            "--", PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not taskguard", *extra
        )
        assert proc.returncode == 0, (extra, proc.stdout, proc.stderr)
        assert "2 passed" in proc.stdout, (extra, proc.stdout)
        assert "PytestAssertRewriteWarning" not in proc.stdout + proc.stderr


SWALLOW = (
    "import app.api.routers as routers\n"
    "for _ in range(3):\n"
    "    try:\n"
    "        routers.lazy()\n"
    "    except ImportError:\n"
    "        pass\n"
    "print('swallowed', flush=True)\n"
)


def test_swallowed_blocked_imports_are_said_on_stderr(project: Path) -> None:
    proc = taskguard_run("--", PY, "-c", SWALLOW)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "swallowed\n"
    where = f"{project / 'app/api/routers/__init__.py'}:6"
    line = f"TG002 app.api.routers imports fakehttp at {where}"
    lines = proc.stderr.splitlines()
    # once when it happened (not three times), once in the summary at exit
    assert lines == [
        f"taskguard: blocked import: {line}",
        "taskguard: 1 forbidden import(s) were blocked in this process (raised, or swallowed "
        "by the program):",
        f"taskguard:   {line}",
    ], proc.stderr

    # a program that configured structlog gets the events where it sends its logs
    configured = (
        "import sys, structlog\n"
        "structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stdout))\n" + SWALLOW
    )
    proc = taskguard_run("--", PY, "-c", configured)
    assert proc.returncode == 0, proc.stderr
    events = [row for row in proc.stdout.splitlines() if "taskguard.forbidden_import" in row]
    assert len(events) == 2, proc.stdout
    assert "error" in events[0]
    assert "at_exit" in events[1]
    assert "imported='fakehttp'" in events[0] or "imported=fakehttp" in events[0], events
    assert "taskguard" not in proc.stderr

    # warn mode keeps its own single event; nothing is blocked, so nothing at exit
    proc = taskguard_run("--mode", "warn", "--", PY, "-c", SWALLOW)
    assert proc.returncode == 0, proc.stderr
    assert "taskguard: blocked" not in proc.stderr
    assert proc.stderr.count("taskguard.forbidden_import") == 1, proc.stderr


def test_a_process_ending_without_atexit_says_it_only_when_it_happens(project: Path) -> None:
    # A forked child (multiprocessing's fork workers end the same way) leaves with
    # os._exit: atexit does not run, so only the line at the moment is written (the
    # documented limit, docs/runtime-guard.md).
    code = (
        "import os, sys\n"
        "import app.api.routers as routers\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    try:\n"
        "        routers.lazy()\n"
        "    except ImportError:\n"
        "        pass\n"
        "    sys.stderr.flush()\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('parent done', flush=True)\n"
    )
    proc = taskguard_run("--", PY, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "parent done\n"
    where = f"{project / 'app/api/routers/__init__.py'}:6"
    line = f"TG002 app.api.routers imports fakehttp at {where}"
    assert proc.stderr.splitlines() == [f"taskguard: blocked import: {line}"], proc.stderr


def test_an_import_hook_the_program_installs_in_front(project: Path) -> None:
    pytest.importorskip("typeguard")
    (project / "app/api/routers/typed.py").write_text(
        "def lazy(x: int) -> int:\n    import fakehttp\n    return x\n"
    )
    code = (
        "import sys, fakehttp\n"
        "from typeguard import install_import_hook\n"
        "install_import_hook('app')\n"
        "assert type(sys.meta_path[0]).__name__ == 'TypeguardFinder'\n"
        "from app.api.routers import typed\n"
        "typed.lazy(1)\n"
    )
    proc = taskguard_run("--", PY, "-c", code)
    assert proc.returncode == 1, proc.stderr
    assert "ForbiddenImportError: TG002: app.api.routers.typed may not import fakehttp" in (
        proc.stderr
    )
