"""Analysing many files: in this process, or in forked worker processes when that pays."""

from __future__ import annotations

import gc
import os
import sys

from taskguard._static.records import SKIPPED_RECORD, Record
from taskguard._static.source import Failure, Job, Task, WarningsIgnored, analyze_file

# Below this many files to analyse, forking workers costs more than it saves: in the
# prefilter mode (most files only searched) and when every file is parsed.
PARALLEL_THRESHOLD = 400
PARALLEL_THRESHOLD_PARSING = 200

# What the forked workers share: the job, the tasks in the order they are handed out
# (inherited through fork, never pickled; a chunk is a range of that order).
_WORKER: tuple[Job, list[Task]] | None = None

Learned = list[tuple[bytes, "Failure | None"]]


def _worker(chunk: tuple[int, int]) -> tuple[list[Record], Learned]:
    assert _WORKER is not None
    job, ordered = _WORKER
    # A forked worker only ever allocates acyclic trees and records: the cyclic collector
    # would only walk them over and over (a fifth to a half of the parse time).
    gc.disable()
    start, stop = chunk
    with WarningsIgnored():
        records = [analyze_file(task, job) for task in ordered[start:stop]]
    syntax = job.syntax
    if syntax is None:
        return records, []
    # A worker process runs several chunks: hand each verdict back once.
    learned, syntax.learned = syntax.learned, []
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
    # Imported here: 6 ms at start-up, and most runs analyse too few files for workers.
    import multiprocessing

    global _WORKER
    # Largest files first and small chunks handed out as workers free up: the last chunks
    # are small files, so no worker is left parsing alone for long at the end.
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].size)
    size = max(8, len(tasks) // (jobs * 32))
    chunks = [(k, min(k + size, len(order))) for k in range(0, len(order), size)]
    _WORKER = (job, [tasks[i] for i in order])
    try:
        pool = multiprocessing.get_context("fork").Pool(jobs)
        try:
            results = pool.map(_worker, chunks, chunksize=1)
        finally:
            pool.close()
            pool.join()
    finally:
        _WORKER = None
    if job.syntax is not None:
        for _records, learned in results:
            job.syntax.learned.extend(learned)
    out: list[Record] = [SKIPPED_RECORD] * len(tasks)
    for i, record in zip(order, (r for records, _learned in results for r in records), strict=True):
        out[i] = record
    return out
