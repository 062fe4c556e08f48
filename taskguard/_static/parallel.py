"""Analysing many files: in this process, or in forked worker processes when that pays."""

from __future__ import annotations

import gc
import mmap
import os

from taskguard._static.isolate import Died, call_isolated, can_fork, settle
from taskguard._static.records import SKIPPED_RECORD, Record
from taskguard._static.source import (
    Failure,
    Job,
    Task,
    WarningsIgnored,
    analyze_file,
    crashed,
)

# Below this many files to analyse, forking workers costs more than it saves: in the
# prefilter mode (most files only searched) and when every file is parsed.
PARALLEL_THRESHOLD = 400
PARALLEL_THRESHOLD_PARSING = 200

# What the forked workers share, inherited through fork and never pickled: the job, the
# tasks, the order they are handed out in (a chunk is a range of that order), and the
# state of every task in shared memory: 0 not started, 1 being analysed, 2 done.
_WORKER: tuple[Job, list[Task], list[int]] | None = None
_STATE: mmap.mmap | None = None
_STARTED = 1
_DONE = 2

Learned = list[tuple[bytes, "Failure | None"]]


def _worker(chunk: tuple[int, int]) -> tuple[list[Record], Learned]:
    assert _WORKER is not None
    assert _STATE is not None
    job, tasks, order = _WORKER
    state = _STATE
    # A forked worker only ever allocates acyclic trees and records: the cyclic collector
    # would only walk them over and over (a fifth to a half of the parse time).
    gc.disable()
    start, stop = chunk
    records = []
    with WarningsIgnored():
        for index in order[start:stop]:
            state[index] = _STARTED
            records.append(analyze_file(tasks[index], job))
            state[index] = _DONE
    syntax = job.syntax
    if syntax is None:
        return records, []
    # A worker process runs several chunks: hand each verdict back once.
    learned, syntax.learned = syntax.learned, []
    return records, learned


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
    _in_workers(list(range(len(tasks))), tasks, job, jobs, out)
    return [SKIPPED_RECORD if record is None else record for record in out]


def _in_workers(
    indexes: list[int], tasks: list[Task], job: Job, jobs: int, out: list[Record | None]
) -> None:
    """Fill ``out[i]`` for every ``i`` of ``indexes`` using forked workers.

    A worker that dies (a parser crash, the out-of-memory killer) breaks the pool: the
    tasks that were being analysed then are each analysed alone in a child of their own
    (the one that crashed becomes TG900), and the rest go to a fresh pool.
    """
    # Imported here: most runs analyse too few files for workers.
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    global _WORKER, _STATE
    settle()  # after a broken pool, its threads may still be exiting
    # Largest files first and small chunks handed out as workers free up: the last chunks
    # are small files, so no worker is left parsing alone for long at the end.
    order = sorted(indexes, key=lambda i: -tasks[i].size)
    size = max(8, len(order) // (jobs * 32))
    chunks = [(k, min(k + size, len(order))) for k in range(0, len(order), size)]
    state = mmap.mmap(-1, len(tasks))
    _WORKER, _STATE = (job, tasks, order), state
    try:
        with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
            futures = [pool.submit(_worker, chunk) for chunk in chunks]
            results: list[tuple[tuple[int, int], tuple[list[Record], Learned] | None]] = []
            for chunk, future in zip(chunks, futures, strict=True):
                try:
                    results.append((chunk, future.result()))
                except BrokenProcessPool:
                    results.append((chunk, None))
    finally:
        _WORKER, _STATE = None, None
    suspects: list[int] = []
    again: list[int] = []
    for (start, stop), result in results:
        if result is None:
            for index in order[start:stop]:
                (suspects if state[index] == _STARTED else again).append(index)
            continue
        records, learned = result
        for index, record in zip(order[start:stop], records, strict=True):
            out[index] = record
        if job.syntax is not None:
            job.syntax.learned.extend(learned)
    state.close()
    if again and not suspects:
        # The pool broke between tasks: nothing to blame, so nothing is retried in a pool
        # (which could break again forever); each file gets a child of its own.
        suspects, again = again, []
    for index in suspects:
        out[index] = _alone(tasks[index], job)
    if again:
        _in_workers(again, tasks, job, jobs, out)


def _analyse_one(argument: tuple[Task, Job]) -> tuple[Record, Learned]:
    task, job = argument
    gc.disable()
    with WarningsIgnored():
        record = analyze_file(task, job)
    return record, [] if job.syntax is None else job.syntax.learned


def _alone(task: Task, job: Job) -> Record:
    """The record of one task analysed in a child of its own: TG900 when the child dies."""
    # Only called after the pool broke: its threads are on their way out.
    settle()
    outcome = call_isolated(_analyse_one, (task, job))
    if isinstance(outcome, Died):
        return crashed(task.display, outcome.how)
    record, learned = outcome
    if job.syntax is not None:
        job.syntax.learned.extend(learned)
    return record
