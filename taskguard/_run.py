"""``taskguard run -- COMMAND``: the runtime guard in every Python process of a command's tree.

The command runs with ``taskguard/_bootstrap`` first on ``PYTHONPATH``; Python imports the
``sitecustomize`` there at startup, which installs the guard and then runs the
``sitecustomize`` that would otherwise have been imported. Child processes inherit the
environment, so they are guarded too. The command's exit status passes through.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Final

from taskguard._errors import PolicyError
from taskguard._policy import load_policy
from taskguard._pyargv import parse_python_argv

BOOTSTRAP_DIR = str(Path(__file__).resolve().parent / "_bootstrap")
# Read by the bootstrap in each process of the tree.
ENV_MODE = "TASKGUARD_MODE"
ENV_CONFIG = "TASKGUARD_CONFIG"
ENV_ROOT = "TASKGUARD_ROOT"

EXIT_USAGE = 2
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


def guarded_environment(
    *, mode: str | None, config: str | None, root: str | None = None
) -> dict[str, str]:
    """The environment a command needs for the guard; the policy is validated first."""
    root_dir = str(Path(root or os.getcwd()).resolve())
    config_path = str(Path(config).resolve()) if config else None
    load_policy(root_dir, config=config_path)  # fail here, once, rather than in every child
    env = dict(os.environ)
    existing = env.get("PYTHONPATH")
    parts = [BOOTSTRAP_DIR, *(existing.split(os.pathsep) if existing else [])]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    env[ENV_ROOT] = root_dir
    if config_path:
        env[ENV_CONFIG] = config_path
    else:
        env.pop(ENV_CONFIG, None)
    if mode:
        env[ENV_MODE] = mode
    else:
        env.pop(ENV_MODE, None)
    return env


def unguardable_python(command: list[str]) -> str | None:
    """Why ``command``, a Python interpreter started with ``-I``, ``-E`` or ``-S``, cannot
    be guarded (it reads neither ``PYTHONPATH`` nor ``sitecustomize``), else ``None``."""
    if not command or not _PYTHON.fullmatch(os.path.basename(command[0])):
        return None
    # The grammar of this interpreter: the versions differ only in options that are
    # errors or help before 3.11 (-P, --help-env...), where Python itself stops.
    parsed = parse_python_argv(command)
    for flag in "IES":
        if parsed.has(flag):
            return (
                f"{command[0]} -{flag} ignores PYTHONPATH or sitecustomize, through which "
                "taskguard run installs the guard: the process would run unguarded; "
                f"drop -{flag}"
            )
    return None


_PYTHON: Final = re.compile(r"python(\d+(\.\d+)*)?[tdmw]*(\.exe)?", re.IGNORECASE)


def run(command: list[str], *, mode: str | None, config: str | None) -> int:
    """Run ``command`` with the guard installed in it and its Python children.

    Returns the command's exit status (128 + N when a signal N ended it).
    """
    if not command:
        print("taskguard run: no command given", file=sys.stderr)
        return EXIT_USAGE
    if mode not in (None, "error", "warn"):
        print(f"taskguard run: --mode must be error or warn, not {mode!r}", file=sys.stderr)
        return EXIT_USAGE
    problem = unguardable_python(command)
    if problem is not None:
        print(f"taskguard run: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        env = guarded_environment(mode=mode, config=config)
    except PolicyError as exc:
        print(f"taskguard run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        # Like exec: every descriptor the caller passed on reaches the command (uvicorn --fd,
        # systemd LISTEN_FDS, make's jobserver).
        child = subprocess.Popen(command, env=env, close_fds=False)
    except FileNotFoundError:
        print(f"taskguard run: command not found: {command[0]}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except PermissionError:
        print(f"taskguard run: permission denied: {command[0]}", file=sys.stderr)
        return EXIT_NOT_EXECUTABLE
    return _wait(child)


def _exit_status(returncode: int) -> int:
    # Popen reports "killed by signal N" as -N; a shell reports 128 + N.
    return 128 - returncode if returncode < 0 else returncode


# Sent by a supervisor (systemd, docker, a process manager) to this process alone: passed on.
_FORWARDED: Final = ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2")
# Sent by the terminal to its whole foreground process group, the command included (Ctrl-C,
# Ctrl-\\), or by a process (`kill -INT`) to this one: passed on unless the terminal sent it
# and the command got it too.
_KEYBOARD: Final = ("SIGINT", "SIGQUIT")
# How long one wait for a signal lasts before the command is polled again (SIGCHLD wakes
# it at once; this bounds the wait where SIGCHLD is not delivered, a reaped child say).
_POLL_SECONDS: Final = 1.0


def _wait(child: subprocess.Popen[bytes]) -> int:
    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    def keyboard(signum: int, _frame: FrameType | None) -> None:
        # No siginfo in a Python handler: judged by the process group alone. Used only
        # until the signals are blocked below, and where sigtimedwait does not exist.
        if not _terminal_sent_it_to(child):
            child.send_signal(signum)

    if threading.current_thread() is not threading.main_thread():
        return _exit_status(child.wait())  # only the main thread may set signal handlers
    previous = {}
    for names, handler in ((_FORWARDED, forward), (_KEYBOARD, keyboard)):
        for name in names:
            signum = getattr(signal, name, None)
            if signum is not None:
                previous[signum] = signal.signal(signum, handler)
    try:
        if hasattr(signal, "sigtimedwait") and hasattr(signal, "pthread_sigmask"):
            status = _wait_with_siginfo(child, set(previous))
        else:  # pragma: no cover - macOS, Windows
            status = child.wait()
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    return _exit_status(status)


def _wait_with_siginfo(child: subprocess.Popen[bytes], signals: set[int]) -> int:
    """Wait for ``child``, taking ``signals`` synchronously with their ``siginfo``.

    The command was started before the signals are blocked here (a child inherits the
    signal mask); one that arrives in between goes to the handlers of :func:`_wait`.
    """
    keyboard = {getattr(signal, name) for name in _KEYBOARD if hasattr(signal, name)}
    wanted = signals | {signal.SIGCHLD}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
    try:
        while True:
            status = child.poll()
            if status is not None:
                return status
            info = signal.sigtimedwait(wanted, _POLL_SECONDS)
            if info is None or info.si_signo == signal.SIGCHLD:
                continue
            if info.si_signo not in keyboard or _forward_keyboard(info, child):
                child.send_signal(info.si_signo)
    finally:
        # Anything still pending now reaches the handlers, which have nobody left to tell.
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _forward_keyboard(info: signal.struct_siginfo, child: subprocess.Popen[bytes]) -> bool:
    """Whether a SIGINT/SIGQUIT this process got must be passed on to ``child``.

    ``si_code`` says who sent it: a process (``kill``, ``sigqueue``, ``tkill``: zero or
    less) or the kernel (the terminal's line discipline for Ctrl-C, positive). A process
    sent it to this process, so it is passed on (unless the command itself sent it); the
    terminal sent it to its whole foreground group, so it is passed on only when the
    command is not in that group with this process.
    """
    if info.si_code <= 0:
        return info.si_pid != child.pid
    return not _terminal_sent_it_to(child)


def _terminal_sent_it_to(child: subprocess.Popen[bytes]) -> bool:
    """Whether a keyboard signal this process got also reached ``child`` from the terminal:
    this process's group is the terminal's foreground group and the child is still in it."""
    try:
        group = os.getpgrp()
        if os.getpgid(child.pid) != group:
            return False
    except (AttributeError, OSError):  # no process groups here, or the child is gone
        return False
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == group:
                return True
        except OSError:
            continue
    return False
