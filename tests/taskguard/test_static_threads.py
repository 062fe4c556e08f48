"""Checks run in several threads at once (an IDE plugin, the pytest plugin under xdist's
threads) find what one check alone finds, whatever state the process is in.

The state that mattered: the cyclic garbage collector. ``check()`` turned it off for its run
and put back what it had found, per call, so the first of overlapping checks turned it back
on under the others. A collection that starts inside a parse runs Python code (finalizers of
the garbage a long-running process holds, ``gc.callbacks``) and can hand the GIL to another
thread; on CPython 3.11 before 3.11.8, a parse in that thread corrupts the first one's
(gh-106905: ``SystemError: AST constructor recursion depth mismatch``, TG900 in one thread
only). These tests force each step of that with events, not timing.
"""

from __future__ import annotations

import ast
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from _check_support import write_project

from taskguard import CheckResult, check
from taskguard._static import parallel, pyparse

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.worker.tasks"]
forbidden-in-protected = ["httpx", "requests"]
"""
# Nested and long enough that building its tree allocates thousands of objects: a collection
# starts inside the parse whenever the collector is on.
SOURCE = (
    "import httpx\nx = 0\nif x == 0:\n    pass\n"
    + "".join(f"elif x == {i}:\n    pass\n" for i in range(1, 600))
    + "else:\n    import requests\n"
)
TARGET = "app/worker/tasks/deep.py"
WAIT = 60  # seconds: a bound on each wait, never a pause


def _found(result: CheckResult) -> list[tuple[str, str | None, int, str]]:
    return sorted((v.code, v.imported, v.line, v.message) for v in result.violations)


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str | None, int, str]]:
    """The project, the working directory, and what one check alone finds in it."""
    write_project(tmp_path, {TARGET: SOURCE}, TABLE)
    monkeypatch.chdir(tmp_path)
    alone = _found(check(use_cache=False, jobs=1))
    assert [(code, imported) for code, imported, _l, _m in alone] == [
        ("TG002", "httpx"),
        ("TG002", "requests"),
    ]
    return alone


@pytest.fixture
def collector_on() -> Iterator[None]:
    """The collector on, as in any program that did not turn it off; put back afterwards."""
    was = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if not was:
            gc.disable()


def _in_threads(
    done: dict[str, threading.Event],
    analyze_file: Callable[[Any, Any], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, object], list[threading.Thread]]:
    """Start ``check()`` in a thread per key of ``done`` (each event set as that check
    returns), with ``analyze_file`` in place: what each returned (or raised), the threads."""
    monkeypatch.setattr(parallel, "analyze_file", analyze_file)
    results: dict[str, object] = {}

    def one() -> None:
        name = threading.current_thread().name
        try:
            results[name] = _found(check(use_cache=False, jobs=1))
        except BaseException as error:  # reported by the assertions, not lost in the thread
            results[name] = error
        done[name].set()

    threads = [threading.Thread(target=one, name=name) for name in done]
    for thread in threads:
        thread.start()
    return results, threads


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), f"{thread.name} never finished"


@pytest.mark.usefixtures("collector_on")
def test_the_first_of_overlapping_checks_to_finish_leaves_the_collector_off_for_the_others(
    project: list[tuple[str, str | None, int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: each run saved gc.isenabled() and put it back. The second run found the
    # collector off (the first one's doing), the first one turned it on when it ended, and
    # the second one parsed with it on.
    real = parallel.analyze_file
    both_inside = threading.Barrier(2, timeout=WAIT)
    done = {"first": threading.Event(), "second": threading.Event()}
    seen: list[tuple[str, bool]] = []

    def analyze_file(task: Any, job: Any) -> Any:
        if task.display != TARGET:
            return real(task, job)
        both_inside.wait()
        name = threading.current_thread().name
        if name == "second":
            assert done["first"].wait(WAIT), "the first check never finished"
        seen.append((name, gc.isenabled()))
        return real(task, job)

    results, threads = _in_threads(done, analyze_file, monkeypatch)
    _join(threads)
    assert seen == [("first", False), ("second", False)]
    assert results == {"first": project, "second": project}
    assert gc.isenabled()


def test_a_caller_that_turned_the_collector_off_keeps_it_off(
    project: list[tuple[str, str | None, int, str]],
) -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        assert _found(check(use_cache=False, jobs=1)) == project
        with pyparse.CollectorPaused():
            with pyparse.CollectorPaused():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


_PARSE_CODE = ast.parse.__code__


def _inside_a_parse(frame: FrameType | None) -> bool:
    """Whether a collection started while ``ast.parse`` was building a tree (the Python
    frame that was running is ``ast.parse``'s own: the tree is built in C under it)."""
    return frame is not None and frame.f_code is _PARSE_CODE


@pytest.mark.usefixtures("collector_on")
def test_a_collection_inside_a_parse_that_lets_another_thread_parse_changes_nothing(
    project: list[tuple[str, str | None, int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a long test session did, one run in three: the first check to finish turned
    # the collector on under the second one; a collection inside the second one's parse ran
    # a finalizer (Python code: here a gc callback), the GIL went to a third thread, which
    # checked (parsed) too; on 3.11 before 3.11.8 the second one's parse then failed with
    # "AST constructor recursion depth mismatch": TG900 in that thread only.
    real = parallel.analyze_file
    both_inside = threading.Barrier(2, timeout=WAIT)
    done = {"first": threading.Event(), "second": threading.Event()}
    third: dict[str, object] = {}

    def analyze_file(task: Any, job: Any) -> Any:
        name = threading.current_thread().name
        if task.display != TARGET:
            return real(task, job)
        if name in ("first", "second"):
            both_inside.wait()
        if name == "second":
            assert done["first"].wait(WAIT), "the first check never finished"
        return real(task, job)

    def run_third() -> None:
        try:
            third["third"] = _found(check(use_cache=False, jobs=1))
        except BaseException as error:
            third["third"] = error

    def callback(phase: str, info: dict[str, int]) -> None:
        # Runs in the thread whose allocation started the collection.
        if phase != "start" or threading.current_thread().name != "second" or third:
            return
        if not _inside_a_parse(sys._getframe(1)):
            return
        third["started"] = True
        thread = threading.Thread(target=run_third, name="third")
        thread.start()
        thread.join(WAIT)

    gc.callbacks.append(callback)
    try:
        results, threads = _in_threads(done, analyze_file, monkeypatch)
        _join(threads)
    finally:
        gc.callbacks.remove(callback)
    results.update((k, v) for k, v in third.items() if k == "third")
    assert all(result == project for result in results.values()), results
    assert gc.isenabled()


def _disturbed(times: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``ast.parse`` of the target file fails ``times`` times as a disturbed one does."""
    real = ast.parse
    calls: list[str] = []

    def parse(source: Any, filename: Any = "<unknown>", *args: Any, **kwargs: Any) -> Any:
        if str(filename).endswith("deep.py"):
            calls.append(str(filename))
            if len(calls) <= times:
                raise SystemError(f"{pyparse.MISMATCH} (before=42, after=-2676)")
        return real(source, filename, *args, **kwargs)

    monkeypatch.setattr(pyparse.ast, "parse", parse)
    return calls


def test_a_parse_another_thread_disturbed_is_repeated(
    project: list[tuple[str, str | None, int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The collector is a process-wide setting other code may turn on while a check runs:
    # a disturbed parse says nothing about the file and is done again.
    calls = _disturbed(pyparse.ATTEMPTS - 1, monkeypatch)
    assert _found(check(use_cache=False, jobs=1)) == project
    assert len(calls) == pyparse.ATTEMPTS


def test_a_parse_disturbed_every_time_is_tg900_saying_so_and_is_not_cached(
    project: list[tuple[str, str | None, int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        _disturbed(pyparse.ATTEMPTS, patched)
        found = _found(check(use_cache=True, jobs=1))
    assert [(code, line) for code, _i, line, _m in found] == [("TG900", 1)]
    message = found[0][3]
    assert message.startswith(f"could not analyse {TARGET}: "), message
    assert "disturbed by another thread parsing at the same time" in message
    assert "gh-106905" in message
    # Not kept as this file's verdict: the next run parses it again.
    assert _found(check(use_cache=True, jobs=1)) == project


def test_other_system_errors_of_the_parser_are_not_repeated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def parse(source: Any, filename: Any = "<unknown>", *args: Any, **kwargs: Any) -> Any:
        calls.append(str(filename))
        raise SystemError("something else")

    monkeypatch.setattr(pyparse.ast, "parse", parse)
    before = gc.isenabled()
    with pytest.raises(SystemError, match="something else"):
        pyparse.parse(b"x = 1\n", "m.py")
    assert calls == ["m.py"]
    assert gc.isenabled() == before


@pytest.mark.skipif(
    not ((3, 11) <= sys.version_info < (3, 11, 8)),
    reason="CPython gh-106905: the AST constructor's shared depth count is 3.11.0-3.11.7's",
)
@pytest.mark.usefixtures("collector_on")
def test_the_parse_repeated_after_a_real_disturbance(monkeypatch: pytest.MonkeyPatch) -> None:
    # The interpreter's own failure, not a stand-in: a collection inside the parse (the
    # collector turned on by other code) runs a callback that parses; the parse is repeated.
    fired: list[bool] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and not fired and _inside_a_parse(sys._getframe(1)):
            fired.append(True)
            ast.parse("y = 1\n")

    real = ast.parse

    def parse_with_collector_on(*args: Any, **kwargs: Any) -> Any:
        gc.enable()  # what other code may do while a check runs
        return real(*args, **kwargs)

    monkeypatch.setattr(pyparse.ast, "parse", parse_with_collector_on)
    gc.callbacks.append(callback)
    try:
        with pytest.raises(SystemError, match=pyparse.MISMATCH):
            # Unrepeated, the interpreter fails (the stand-in above is faithful).
            parse_with_collector_on(SOURCE.encode(), "deep.py")
        fired.clear()
        tree = pyparse.parse(SOURCE.encode(), "deep.py")
    finally:
        gc.callbacks.remove(callback)
    assert fired == [True]
    assert isinstance(tree, ast.Module)


def test_parser_disturbed_is_a_taskguard_error_that_pickles() -> None:
    import pickle

    from taskguard import TaskguardError

    error = pyparse.ParserDisturbed(f"{pyparse.MISMATCH} (x)")
    assert isinstance(error, TaskguardError)
    assert isinstance(error, RuntimeError)
    assert "gh-106905" in str(error)
    assert f"{pyparse.ATTEMPTS} times" in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is pyparse.ParserDisturbed
    assert copy.detail == error.detail
    assert str(copy) == str(error)
