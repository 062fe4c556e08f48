"""Analysing many files: in this process, or in forked worker processes when that pays.

A parallel run forks ``jobs - 1`` children and analyses a share of the files itself: each
child analyses its share and writes its records back through a pipe, as builtins
(``records.plain``) in ``marshal``'s format. Neither ``multiprocessing`` nor ``pickle`` is
imported, no pool is started, and the parent never waits idle for a child that has work.
"""

from __future__ import annotations

import gc
import marshal
import os
import sys
from typing import Any

from taskguard._static.records import Record, from_plain, plain
from taskguard._static.source import Failure, Job, Task, WarningsIgnored, analyze_file

# Below this many files to analyse, forking workers costs more than it saves: in the
# prefilter mode (most files only searched) and when every file is parsed.
PARALLEL_THRESHOLD = 400
PARALLEL_THRESHOLD_PARSING = 200

Learned = list[tuple[bytes, "Failure | None"]]


def _analyse_share(share: list[Task], job: Job) -> tuple[list[Record], Learned]:
    with WarningsIgnored():
        records = [analyze_file(task, job) for task in share]
    syntax = job.syntax
    if syntax is None:
        return records, []
    learned, syntax.learned = syntax.learned, []
    return records, learned


def _child(share: list[Task], job: Job, out: int) -> None:
    """Runs in a forked child: analyse ``share``, write the result to ``out``; never returns."""
    code = 1
    try:
        # A child only allocates acyclic trees and records: the cyclic collector would only
        # walk them over and over (a fifth to a half of the parse time).
        gc.disable()
        records, learned = _analyse_share(share, job)
        # Records equal in value are written once (most files share "nothing here").
        plain_of: dict[Record, Any] = {}
        raw = [plain_of.get(r) or plain_of.setdefault(r, plain(r)) for r in records]
        payload = memoryview(marshal.dumps((raw, learned)))
        while payload:
            payload = payload[os.write(out, payload) :]
        code = 0
    except BaseException:  # reported by the exit code: the parent redoes the share
        pass
    finally:
        os._exit(code)


def _read_child(pid: int, fd: int) -> tuple[list[Record], Learned] | None:
    """The result a child wrote, or None when it failed (its exit code says so)."""
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    _pid, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    try:
        raw, learned = marshal.loads(b"".join(chunks))
        converted: dict[int, Record] = {}
        records = []
        for item in raw:
            record = converted.get(id(item))
            if record is None:
                record = converted[id(item)] = from_plain(item)
            records.append(record)
    except (EOFError, ValueError, TypeError):
        return None
    return records, learned


def _can_fork() -> bool:
    # Forking a process that runs other threads can deadlock the child; only fork when
    # this process has exactly one thread (counted by the OS, so C-level threads count).
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def analyze_all(tasks: list[Task], job: Job, jobs: int | None) -> list[Record]:
    """The record of every task; new syntax verdicts are added to ``job``'s memo.

    The caller turns the cyclic garbage collector off: parsing allocates many objects and
    no cycles, so collections during it cost time and free nothing.
    """
    if jobs is None:
        # Parsing a file for syntax costs ~20 times what the prefilter alone costs, so
        # workers pay from fewer files when every file is parsed.
        threshold = PARALLEL_THRESHOLD_PARSING if job.parse_all else PARALLEL_THRESHOLD
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        jobs = min(cpus, 8) if len(tasks) >= threshold and _can_fork() else 1
    if jobs <= 1 or len(tasks) < 2 or not _can_fork():
        with WarningsIgnored():
            return [analyze_file(task, job) for task in tasks]
    jobs = min(jobs, len(tasks))
    # Dealt by size, largest first, so that every share holds about as many bytes.
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].size)
    shares = [order[k::jobs] for k in range(jobs)]
    children: list[tuple[int, int, list[int]]] = []
    for share in shares[1:]:
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no more processes: the shares left are analysed here
            os.close(read_end)
            os.close(write_end)
            break
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            os.close(read_end)
            _child([tasks[i] for i in share], job, write_end)
        os.close(write_end)
        children.append((pid, read_end, share))
    out: list[Record | None] = [None] * len(tasks)
    forked = {id(share) for _pid, _fd, share in children}
    for share in shares:
        if id(share) in forked:
            continue
        records, learned = _analyse_share([tasks[i] for i in share], job)
        for i, record in zip(share, records, strict=True):
            out[i] = record
        if job.syntax is not None:
            job.syntax.learned.extend(learned)
    for pid, fd, share in children:
        result = _read_child(pid, fd)
        if result is None:  # the child failed: its share is analysed here, the same way
            result = _analyse_share([tasks[i] for i in share], job)
        records, learned = result
        for i, record in zip(share, records, strict=True):
            out[i] = record
        if job.syntax is not None:
            job.syntax.learned.extend(learned)
    assert all(record is not None for record in out)
    return out  # type: ignore[return-value]
