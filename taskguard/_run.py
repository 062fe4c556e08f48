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
    for arg in command[1:]:
        if arg in ("-", "--") or not arg.startswith("-") or arg.startswith("--"):
            if arg == "--check-hash-based-pycs":
                continue
            break
        for flag in arg[1:]:
            if flag in "cm":  # what follows is the program and its arguments
                return None
            if flag in "IES":
                return (
                    f"{command[0]} -{flag} ignores PYTHONPATH or sitecustomize, through which "
                    "taskguard run installs the guard: the process would run unguarded; "
                    f"drop -{flag}"
                )
            if flag in "XW":
                break  # the rest of the argument (or the next one) is the option's value
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
# Ctrl-\\): passed on only when this process is not there, or the command left the group.
_KEYBOARD: Final = ("SIGINT", "SIGQUIT")


def _wait(child: subprocess.Popen[bytes]) -> int:
    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    def keyboard(signum: int, _frame: FrameType | None) -> None:
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
        status = child.wait()
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    return _exit_status(status)


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
