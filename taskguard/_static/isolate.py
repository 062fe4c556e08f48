"""Running one piece of work in a forked child, so that a crash costs only that work.

CPython's parser can still take the process down on some inputs (3.10 builds the syntax
tree of a long attribute chain without a depth check and overflows the C stack), and a
worker process can be killed from outside (the out-of-memory killer). What runs here is
the one file whose analysis may do that: its result comes back through a pipe, and a child
that dies instead says how it died.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import warnings
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")
_A = TypeVar("_A")


def can_fork() -> bool:
    """Whether forking is safe here: Linux, and this process runs exactly one thread.

    Forking a process that runs other threads can deadlock the child; the thread count is
    the operating system's, so threads started by C code count too.
    """
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def settle(deadline: float = 5.0) -> None:
    """Wait (at most ``deadline`` seconds) until this process runs one thread again.

    A process pool that just shut down has joined its threads, but the operating system
    may not have reaped them yet: forking then would see them.
    """
    import time

    end = time.monotonic() + deadline
    pause = 0.0005
    while not can_fork() and time.monotonic() < end:
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def how_it_died(status: int) -> str:
    """A ``waitpid`` status as words: ``SIGSEGV``, ``exit status 3``."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return signal.Signals(number).name
        except ValueError:  # pragma: no cover - a real-time signal
            return f"signal {number}"
    return f"exit status {os.WEXITSTATUS(status)}"


class Died:
    """What :func:`call_isolated` returns for a child that died: ``how`` (``SIGSEGV``)."""

    __slots__ = ("how",)

    def __init__(self, how: str) -> None:
        self.how = how


def call_isolated(function: Callable[[_A], _T], argument: _A) -> _T | Died:
    """``function(argument)`` computed in a forked child, or :class:`Died` when the child
    died before handing its result back.

    An exception in the child is a result like any other only if it pickles; the caller
    passes a function that returns what it needs to know instead of raising.
    """
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # 3.12 warns about forking beside other threads; the callers fork only when this
        # process runs one (or, right after a pool shut down, its threads are exiting).
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (coverage does not follow os._exit)
        code = 0
        try:
            os.close(read_end)
            payload = pickle.dumps(function(argument), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(write_end)
    chunks: list[bytes] = []
    with os.fdopen(read_end, "rb") as pipe:
        while chunk := pipe.read(1 << 16):
            chunks.append(chunk)
    _pid, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and chunks:
        # Our own child's bytes, never anyone else's.
        result: _T = pickle.loads(b"".join(chunks))
        return result
    return Died(how_it_died(status))
