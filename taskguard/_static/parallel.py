"""Analysing many files: in this process, or in forked worker processes when that pays.

A parallel run forks one child per job; the children take chunks of the files as they
free up and write the records back through a pipe, as builtins (``records.plain``) in
``marshal``'s format. Neither ``multiprocessing`` nor ``pickle`` is imported and no pool is
started: a pool cost ~50 ms of CPU more on 10,000 files. A child that dies (a parser crash,
the out-of-memory killer) costs only the file it was on: each task's state is kept in shared
memory, so the task it was analysing is analysed alone in a child of its own (TG900 when
that one dies too), and the tasks it had not finished go to fresh children.
"""

from __future__ import annotations

import gc
import marshal
import mmap
import os
from typing import Any

from taskguard._static.isolate import Died, call_isolated, can_fork, settle
from taskguard._static.records import Record, from_plain, plain
from taskguard._static.source import (
    Failure,
    Job,
    Task,
    WarningsIgnored,
    analyze_file,
    crashed,
)

__all__ = ["PARALLEL_THRESHOLD", "PARALLEL_THRESHOLD_PARSING", "analyze_all", "can_fork"]

# Below this many files to analyse, forking workers costs more than it saves: in the
# prefilter mode (most files only searched) and when every file is parsed.
PARALLEL_THRESHOLD = 400
PARALLEL_THRESHOLD_PARSING = 200

# The state of each task in the shared memory: 0 not started, then these.
_STARTED = 1
_DONE = 2

Learned = list[tuple[bytes, "Failure | None"]]


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
        jobs = min(cpus, 8) if len(tasks) >= threshold and can_fork() else 1
    if jobs <= 1 or len(tasks) < 2 or not can_fork():
        with WarningsIgnored():
            return [analyze_file(task, job) for task in tasks]
    out: list[Record | None] = [None] * len(tasks)
    _in_children(list(range(len(tasks))), tasks, job, jobs, out)
    assert all(record is not None for record in out)
    return out  # type: ignore[return-value]


def _in_children(
    indexes: list[int], tasks: list[Task], job: Job, jobs: int, out: list[Record | None]
) -> None:
    """Fill ``out[i]`` for every ``i`` of ``indexes`` in forked children (see the module)."""
    settle()  # a child of our own just reaped: the OS may still list its thread
    # Largest files first and small chunks taken by whichever child is free: the last
    # chunks are small files, so no child is left working alone for long at the end, and a
    # child the machine's load holds back takes fewer chunks.
    order = sorted(indexes, key=lambda i: -tasks[i].size)
    # (At most 4,096 chunks: their numbers must fit in the pipe's buffer, 64 KB on Linux.)
    size = max(8, len(order) // (jobs * 32), -(-len(order) // 4096))
    chunks = [order[k : k + size] for k in range(0, len(order), size)]
    # The chunk numbers, 4 bytes each, in a pipe the children read them from (a read of 4
    # bytes from a pipe is atomic): written before forking, so the pipe is never waited on.
    tokens_read, tokens_write = os.pipe()
    numbers = memoryview(b"".join(k.to_bytes(4, "little") for k in range(len(chunks))))
    while numbers:
        numbers = numbers[os.write(tokens_write, numbers) :]
    state = mmap.mmap(-1, len(tasks))
    children: list[tuple[int, int]] = []
    try:
        for _ in range(min(jobs, len(chunks))):
            read_end, write_end = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no more processes: the children forked take every chunk
                os.close(read_end)
                os.close(write_end)
                break
            if pid == 0:  # pragma: no cover - the child's coverage is not collected
                try:
                    os.close(read_end)
                    os.close(tokens_write)
                    _child(chunks, tasks, job, state, tokens=tokens_read, out=write_end)
                finally:
                    os._exit(70)  # never back into the parent's code
            os.close(write_end)
            children.append((pid, read_end))
    finally:
        os.close(tokens_write)
        os.close(tokens_read)
    for pid, read_end in children:
        result = _read_child(pid, read_end)
        if result is None:
            continue
        done, records, learned = result
        for index, record in zip((i for k in done for i in chunks[k]), records, strict=True):
            out[index] = record
        if job.syntax is not None:
            job.syntax.learned.extend(learned)
    suspects: list[int] = []
    again: list[int] = []
    for index in indexes:
        if out[index] is None:
            (suspects if state[index] == _STARTED else again).append(index)
    state.close()
    if again and not suspects:
        # A child died between tasks (or none could be forked): nothing to blame, so
        # nothing is retried in a shared child (which could die again forever); each file
        # gets a child of its own.
        suspects, again = again, []
    for index in suspects:
        out[index] = _alone(tasks[index], job)
    if again:
        _in_children(again, tasks, job, jobs, out)


def _child(
    chunks: list[list[int]], tasks: list[Task], job: Job, state: mmap.mmap, *, tokens: int, out: int
) -> None:
    """Runs in a forked child: analyse the chunks whose numbers it reads from ``tokens``,
    write the result to ``out``; never returns."""
    code = 70
    try:
        # A child only allocates acyclic trees and records: the cyclic collector would only
        # walk them over and over (a fifth to a half of the parse time).
        gc.disable()
        done: list[int] = []
        records = []
        with WarningsIgnored():
            while len(token := os.read(tokens, 4)) == 4:
                number = int.from_bytes(token, "little")
                for index in chunks[number]:
                    state[index] = _STARTED
                    records.append(analyze_file(tasks[index], job))
                    state[index] = _DONE
                done.append(number)
        learned = [] if job.syntax is None else job.syntax.learned
        # Records equal in value are written once (most files share "nothing here").
        plain_of: dict[Record, Any] = {}
        raw = [plain_of.get(r) or plain_of.setdefault(r, plain(r)) for r in records]
        payload = memoryview(marshal.dumps((done, raw, learned)))
        while payload:
            payload = payload[os.write(out, payload) :]
        code = 0
    except BaseException:  # reported by the exit code: the parent redoes the files
        pass
    finally:
        os._exit(code)


def _read_child(pid: int, fd: int) -> tuple[list[int], list[Record], Learned] | None:
    """The result a child wrote, or None when it did not finish (its exit status says)."""
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    _pid, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return None
    try:
        # Our own child's bytes, never anyone else's.
        done, raw, learned = marshal.loads(b"".join(chunks))
        converted: dict[int, Record] = {}
        records = []
        for item in raw:
            record = converted.get(id(item))
            if record is None:
                record = converted[id(item)] = from_plain(item)
            records.append(record)
    except (EOFError, ValueError, TypeError):
        return None
    return done, records, learned


def _analyse_one(argument: tuple[Task, Job]) -> tuple[Record, Learned]:
    task, job = argument
    gc.disable()
    with WarningsIgnored():
        record = analyze_file(task, job)
    return record, [] if job.syntax is None else job.syntax.learned


def _alone(task: Task, job: Job) -> Record:
    """The record of one task analysed in a child of its own: TG900 when the child dies."""
    settle()
    outcome = call_isolated(_analyse_one, (task, job))
    if isinstance(outcome, Died):
        return crashed(task.display, outcome.how)
    record, learned = outcome
    if job.syntax is not None:
        job.syntax.learned.extend(learned)
    return record
