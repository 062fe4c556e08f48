"""Never crash: deep and wide valid code, at the limits CPython itself accepts, is analysed
(or, where the running Python's ``ast`` module cannot build its tree, reported as TG900 with
the reason), and one file that cannot be analysed never costs the other files' results.

The limits are not hard-coded: a fresh interpreter (the one running the tests) finds, for
each construct, the largest size ``compile()`` accepts, and whether ``ast.parse`` accepts
that size too. They differ per version (3.10-3.12 stop near 3,000 levels of most chains,
3.13 near 6,000 or 10,000; brackets stop at 200 and indentation at 100 everywhere).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from _check_support import run_cli, write_project

from taskguard import check

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.worker.tasks"]
forbidden-in-protected = ["httpx", "requests", "concurrent.futures.ProcessPoolExecutor"]
"""
# Every generated module imports ``importlib``, so that the expression pass walks it all.
HEAD = "import importlib\nimport httpx\n"

# name -> (source of a function ``g(n)`` building the module, cap for the limit search).
# The function source is shared with the limit-finding subprocess.
GENERATORS: dict[str, tuple[str, int]] = {
    "elif": (
        "def g(n):\n"
        "    body = ''.join(f'elif x == {i}:\\n    pass\\n' for i in range(1, n))\n"
        "    return HEAD + 'x = 0\\nif x == 0:\\n    pass\\n' + body"
        " + 'else:\\n    import requests\\n'\n",
        40000,
    ),
    "attribute": (
        "def g(n):\n"
        "    return HEAD + 'import concurrent.futures as cf\\n'"
        " + 'y = cf.ProcessPoolExecutor' + '.b' * n + '\\n'\n",
        40000,
    ),
    "builtins_chain": (
        "def g(n):\n    return HEAD + 'y = globals()' + \"['x']\" * n + '\\n'\n",
        40000,
    ),
    "binop": ("def g(n):\n    return HEAD + 'y = 1' + ' + 1' * n + '\\n'\n", 40000),
    "string_concat": (
        "def g(n):\n"
        "    return HEAD + \"y = importlib.import_module('requests'\" + \" + ''\" * n + ')\\n'\n",
        40000,
    ),
    "unary": ("def g(n):\n    return HEAD + 'y = ' + '-' * n + '1\\n'\n", 40000),
    "not_type_checking": (
        "def g(n):\n"
        "    return HEAD + 'from typing import TYPE_CHECKING\\nif ' + 'not ' * n"
        " + 'TYPE_CHECKING:\\n    import requests\\n'\n",
        40000,
    ),
    "calls": ("def g(n):\n    return HEAD + 'y = f' + '()' * n + '\\n'\n", 40000),
    "ternary": ("def g(n):\n    return HEAD + 'y = ' + 'a if b else ' * n + 'c\\n'\n", 40000),
    "lambda": (
        "def g(n):\n    return HEAD + 'y = ' + 'lambda: ' * n + \"__import__('requests')\\n\"\n",
        40000,
    ),
    "power": ("def g(n):\n    return HEAD + 'y = 2' + ' ** 2' * n + '\\n'\n", 40000),
    "blocks": (
        "def g(n):\n"
        "    body = ''.join(' ' * i + 'if x:\\n' for i in range(n))\n"
        "    return HEAD + 'x = 1\\n' + body + ' ' * n + 'import requests\\n'\n",
        1000,
    ),
    "functions": (
        "def g(n):\n"
        "    body = ''.join(' ' * i + f'def f{i}():\\n' for i in range(n))\n"
        "    return HEAD + body + ' ' * n + \"eval('1')\\n\"\n",
        1000,
    ),
    "parentheses": (
        "def g(n):\n"
        "    return HEAD + 'y = ' + '(' * n + \"__import__('requests')\" + ')' * n + '\\n'\n",
        1000,
    ),
    "getattr_calls": (
        "def g(n):\n"
        "    return HEAD + 'y = ' + 'getattr(' * n + 'importlib' + \", 'x')\" * n + '\\n'\n",
        1000,
    ),
    "brackets": ("def g(n):\n    return HEAD + 'y = ' + '[' * n + ']' * n + '\\n'\n", 1000),
    "patterns": (
        "def g(n):\n"
        "    return HEAD + 'match x:\\n    case ' + '[' * n + 'y' + ']' * n"
        " + ':\\n        import requests\\n'\n",
        1000,
    ),
}
# Wide and long, at sizes no limit applies to.
WIDE: dict[str, str] = {
    "long_file": HEAD + "x = 1\n" * 200_000 + "import requests\n",
    "wide_list": HEAD + "y = [" + "1, " * 200_000 + "]\nimport requests\n",
    "wide_call": HEAD + "y = f(" + "a, " * 50_000 + ")\nimport requests\n",
    "many_imports": HEAD + "".join(f"import requests as r{i}\n" for i in range(5_000)),
}

_FIND_LIMITS = """
import ast, json, sys
HEAD = {head!r}
GENERATORS = {generators!r}

def accepted(source, how):
    try:
        how(source)
    except Exception:
        return False
    return True

def compiles(source):
    compile(source, 'm.py', 'exec')

out = {{}}
for name, (code, cap) in GENERATORS.items():
    scope = {{'HEAD': HEAD}}
    exec(code, scope)
    g = scope['g']
    low, high = 1, cap
    while low < high - 1:
        middle = (low + high) // 2
        if accepted(g(middle), compiles):
            low = middle
        else:
            high = middle
    # The checker lifts the recursion limit by its own stack depth around the parse (the
    # limit of 3.10 and 3.11 moves with it; 3.12 and 3.13 have a fixed one).
    sys.setrecursionlimit(sys.getrecursionlimit() + 100)
    out[name] = [low, accepted(g(low), ast.parse)]
    sys.setrecursionlimit(sys.getrecursionlimit() - 100)
print(json.dumps(out))
"""


def _generator(name: str) -> Callable[[int], str]:
    scope: dict[str, object] = {"HEAD": HEAD}
    exec(GENERATORS[name][0], scope)
    return scope["g"]  # type: ignore[return-value]


@pytest.fixture(scope="module")
def limits() -> dict[str, tuple[int, bool]]:
    """Per construct: the largest size ``compile()`` accepts, and whether ``ast.parse``
    accepts that size too (found by a fresh interpreter, at the top of its stack)."""
    script = _FIND_LIMITS.format(head=HEAD, generators=GENERATORS)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=600
    )
    found = json.loads(done.stdout)
    return {name: (limit, parses) for name, (limit, parses) in found.items()}


def _expected(name: str, n: int) -> set[tuple[str, str | None]]:
    """(code, imported) each generated module must be reported for."""
    out: set[tuple[str, str | None]] = {("TG002", "httpx")}
    if name in ("elif", "string_concat", "lambda", "blocks", "parentheses", "patterns"):
        out.add(("TG002", "requests"))
    if name == "attribute":
        out.add(("TG002", "concurrent.futures.ProcessPoolExecutor"))
    if name == "not_type_checking" and n % 2:
        out.add(("TG002", "requests"))
    if name == "functions":
        out.add(("TG003", None))
    if name in WIDE:
        out.add(("TG002", "requests"))
    return out


def _write(root: Path, sources: dict[str, str]) -> dict[str, str]:
    files = {f"app/worker/tasks/{name}.py": source for name, source in sources.items()}
    write_project(root, {path: source.encode() for path, source in files.items()}, TABLE)
    return {name: f"app/worker/tasks/{name}.py" for name in sources}


def _by_path(violations: list[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for v in violations:
        out.setdefault(str(v["path"]), []).append(v)
    return out


def test_deep_and_wide_valid_code_at_the_limits_cpython_accepts(
    tmp_path: Path, limits: dict[str, tuple[int, bool]]
) -> None:
    sources = {name: _generator(name)(limits[name][0]) for name in GENERATORS}
    sources.update(WIDE)
    paths = _write(tmp_path, sources)
    done = run_cli(["check", "--no-cache", "--format", "json"], tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    report = _by_path(json.loads(done.stdout)["violations"])
    for name, path in paths.items():
        got = report.get(path, [])
        limit, parses = limits.get(name, (0, True))
        if not parses:
            # compile() accepts it, the ast module of this Python cannot build its tree
            # (3.12 and 3.13 stop a level or two short): TG900 saying so, never a crash.
            assert [v["code"] for v in got] == ["TG900"], (name, got)
            assert "nested" in str(got[0]["message"]), got
            continue
        found = {(str(v["code"]), v["imported"]) for v in got}
        assert found == _expected(name, limit), (name, limit, got)


def test_the_library_analyses_the_limits_from_a_deep_stack(
    tmp_path: Path, limits: dict[str, tuple[int, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ast.parse's own limit moves with the caller's stack depth on some versions: the
    # checker called from deep inside a program still accepts what compile() accepts.
    chosen = (
        "elif",
        "attribute",
        "string_concat",
        "not_type_checking",
        "lambda",
        "getattr_calls",
    )
    paths = _write(tmp_path, {name: _generator(name)(limits[name][0]) for name in chosen})
    monkeypatch.chdir(tmp_path)

    def deep(levels: int) -> object:
        return deep(levels - 1) if levels else check(use_cache=False, jobs=1)

    result = deep(600)
    for name, path in paths.items():
        limit, parses = limits[name]
        got = {(v.code, v.imported) for v in result.violations if v.path == path}  # type: ignore[attr-defined]
        if parses:
            assert got == _expected(name, limit), (name, got)
        else:
            assert got == {("TG900", None)}, (name, got)


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_code_beyond_the_limits_is_tg900_and_the_rest_is_still_reported(
    tmp_path: Path, limits: dict[str, tuple[int, bool]], fmt: str
) -> None:
    beyond = {
        f"{name}_beyond": _generator(name)(limits[name][0] + 1)
        for name in ("elif", "attribute", "binop", "parentheses", "blocks")
    }
    # Far beyond: Python 3.10's ast.parse overflows the C stack on chains this long (it
    # checks no depth while building the tree), and kills the process that asked.
    beyond["attribute_far"] = HEAD + "y = a" + ".b" * 150_000 + "\n"
    beyond["calls_far"] = HEAD + "y = f" + "()" * 150_000 + "\n"
    # The symbol-table pass stops at the duplicate argument before the chain: the parse
    # that decides must still not crash.
    beyond["duplicate_then_far"] = HEAD + "def f(a, a):\n    pass\ny = a" + ".b" * 150_000 + "\n"
    sources = {**beyond, "fine": "import requests\n"}
    _write(tmp_path, sources)
    done = run_cli(["check", "--no-cache", "--format", fmt], tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    out = done.stdout
    for name in beyond:
        assert f"app/worker/tasks/{name}.py" in out, (name, out[:2000])
    assert "app/worker/tasks/fine.py" in out
    if fmt == "json":
        report = _by_path(json.loads(out)["violations"])
        for name in beyond:
            got = report[f"app/worker/tasks/{name}.py"]
            if not name.endswith("_far"):
                # One level past compile()'s limit: the checker's parser may still build the
                # tree (it lifts the recursion limit by its own depth), then the file is
                # analysed like any other; or it cannot, and that is TG900.
                assert [v["code"] for v in got] in (["TG900"], ["TG002"] * len(got)), got
                if got[0]["code"] == "TG002":
                    continue
            assert [v["code"] for v in got] == ["TG900"], (name, got)
            assert int(str(got[0]["line"])) >= 1
            assert got[0]["message"].startswith(f"could not parse app/worker/tasks/{name}.py: ")  # type: ignore[union-attr]
        assert [v["imported"] for v in report["app/worker/tasks/fine.py"]] == ["requests"]


_CRASHING_RUN = """
import json, os, signal, sys
from taskguard._static import parallel
from taskguard import check

real = parallel.analyze_file
parent = os.getpid()

def crashing(task, job):
    # Only ever in a forked child: the parent (this interpreter) must survive.
    if task.path.endswith("boom.py") and os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(task, job)

parallel.analyze_file = crashing
assert parallel.can_fork(), "a fresh interpreter runs one thread"
result = check(use_cache=False, jobs=2)
print(json.dumps([[v.path, v.code, v.message] for v in result.violations]))
"""


def test_a_worker_that_dies_costs_only_the_file_it_was_on(tmp_path: Path) -> None:
    # A parser crash (a segfault) or the out-of-memory killer kills the worker process; the
    # file it was analysing becomes TG900 and every other file is still reported. In a fresh
    # interpreter: workers are only forked from a process that runs one thread.
    files = {f"app/worker/tasks/m{i}.py": "import requests\n" for i in range(40)}
    files["app/worker/tasks/boom.py"] = "import httpx\n"
    write_project(tmp_path, files, TABLE)
    done = subprocess.run(
        [sys.executable, "-c", _CRASHING_RUN],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    violations = json.loads(done.stdout)
    assert {path for path, code, _m in violations if code == "TG002"} == {
        f"app/worker/tasks/m{i}.py" for i in range(40)
    }
    (boom,) = [(code, message) for path, code, message in violations if path.endswith("boom.py")]
    assert boom[0] == "TG900"
    assert "the process analysing it died (SIGKILL)" in boom[1], boom


def test_an_internal_error_in_one_file_is_tg900_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskguard._static import analyze

    write_project(
        tmp_path,
        {"app/worker/tasks/a.py": "import requests\n", "app/worker/tasks/b.py": "import httpx\n"},
        TABLE,
    )
    monkeypatch.chdir(tmp_path)
    real = analyze.Analyzer.import_

    def failing(self: analyze.Analyzer, node: object) -> None:
        if self.module.endswith(".b"):
            raise RuntimeError("a bug")
        real(self, node)  # type: ignore[arg-type]

    monkeypatch.setattr(analyze.Analyzer, "import_", failing)
    result = check(use_cache=False, jobs=1)
    assert [(v.path, v.code) for v in result.violations] == [
        ("app/worker/tasks/a.py", "TG002"),
        ("app/worker/tasks/b.py", "TG900"),
    ]
    assert "could not analyse app/worker/tasks/b.py: RuntimeError: a bug" in (
        result.violations[1].message
    )


def test_crlf_and_cr_files_at_the_limits(
    tmp_path: Path, limits: dict[str, tuple[int, bool]]
) -> None:
    # A few levels short of the limit: where the ast module stops short of compile() too.
    source = _generator("elif")(limits["elif"][0] - 5)
    files = {
        "app/worker/tasks/crlf.py": source.replace("\n", "\r\n").encode(),
        "app/worker/tasks/cr.py": source.replace("\n", "\r").encode(),
    }
    write_project(tmp_path, files, TABLE)
    done = run_cli(["check", "--no-cache", "--format", "json"], tmp_path)
    assert done.returncode == 1, done.stderr
    lines = {(v["path"], v["imported"], v["line"]) for v in json.loads(done.stdout)["violations"]}
    last = source.count("\n")
    for path in files:
        assert (path, "requests", last) in lines
        assert (path, "httpx", 2) in lines


def test_the_generators_are_valid_python() -> None:
    # The generated modules are what the limits are measured on: each one small enough
    # compiles (the test above relies on every generator being valid Python).
    for name in GENERATORS:
        compile(_generator(name)(3), name, "exec")
    for name, source in WIDE.items():
        compile(textwrap.dedent(source), name, "exec")


def test_checks_in_several_threads_at_once(
    tmp_path: Path, limits: dict[str, tuple[int, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parser's recursion room is shared by the threads inside it, and the limit is the
    # caller's again when the last one leaves; so is the collector's pause. In this process,
    # after whatever the earlier tests left behind: in a long session this differed between
    # threads about one run in three (the first check to finish turned the collector back on
    # under the others; see test_static_threads.py for the mechanism, forced step by step).
    import gc
    import threading

    _write(tmp_path, {"elif": _generator("elif")(limits["elif"][0] - 5)})
    monkeypatch.chdir(tmp_path)
    before = (sys.getrecursionlimit(), gc.isenabled())
    results: dict[str, object] = {}

    def one() -> None:
        name = threading.current_thread().name
        try:
            result = check(use_cache=False, jobs=1)
        except BaseException as error:  # reported below, not lost in the thread
            results[name] = repr(error)
            return
        results[name] = sorted((v.code, v.imported, v.line, v.message) for v in result.violations)

    threads = [threading.Thread(target=one, name=f"check-{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
        assert not thread.is_alive(), f"{thread.name} never finished"
    found = list(results.values())
    assert len(found) == 4
    assert all(result == found[0] for result in found), results
    assert {(code, imported) for code, imported, _line, _message in found[0]} == _expected(  # type: ignore[union-attr]
        "elif", 0
    )
    assert (sys.getrecursionlimit(), gc.isenabled()) == before


def test_checks_in_threads_that_overlap_keep_the_callers_warning_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: warnings were silenced with warnings.catch_warnings(), which is not
    # thread-safe. Two checks whose analyses overlapped restored each other's saved filters:
    # the second one's file was parsed under the caller's "error" filter (its SyntaxWarning
    # became a syntax error: TG900 in that thread only), and "ignore everything" stayed in
    # the process's filters afterwards. The overlap is forced: the first thread leaves its
    # analysis while the second is inside its own.
    import threading
    import warnings

    from taskguard._static import parallel

    # An invalid escape: a DeprecationWarning (3.11) or SyntaxWarning (3.12+) when parsed.
    _write(tmp_path, {"escape": HEAD + 'pattern = "\\d+"\n'})
    monkeypatch.chdir(tmp_path)
    alone = check(use_cache=False, jobs=1)
    assert {(v.code, v.imported) for v in alone.violations} == {("TG002", "httpx")}
    both_inside = threading.Barrier(2, timeout=30)
    first_done = threading.Event()
    real = parallel.analyze_file
    order: list[str] = []

    def analyze_file(task: object, job: object) -> object:
        if not str(getattr(task, "module", "")).endswith(".escape"):
            return real(task, job)  # type: ignore[arg-type]
        both_inside.wait()
        if threading.current_thread().name == "second":
            assert first_done.wait(30), "the first check never finished"
        order.append(threading.current_thread().name)
        return real(task, job)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "analyze_file", analyze_file)
    results: dict[str, object] = {}

    def one() -> None:
        results[threading.current_thread().name] = check(use_cache=False, jobs=1)

    before = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the caller's filters, as under -W error
        inside = list(warnings.filters)
        first = threading.Thread(target=one, name="first")
        second = threading.Thread(target=one, name="second")
        first.start()
        second.start()
        first.join(60)
        first_done.set()
        second.join(60)
        assert order == ["first", "second"]
        assert results == {"first": alone, "second": alone}, results
        assert warnings.filters == inside
    assert warnings.filters == before


def test_a_failed_analysis_is_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from taskguard._static import analyze

    write_project(tmp_path, {"app/worker/tasks/b.py": "import httpx\n"}, TABLE)
    monkeypatch.chdir(tmp_path)
    real = analyze.Analyzer.import_

    def failing(self: analyze.Analyzer, node: object) -> None:
        raise RuntimeError("a passing bug")

    monkeypatch.setattr(analyze.Analyzer, "import_", failing)
    assert [v.code for v in check(jobs=1).violations] == ["TG900"]
    monkeypatch.setattr(analyze.Analyzer, "import_", real)
    # The next run analyses the file again instead of serving the failure from the cache.
    assert [v.code for v in check(jobs=1).violations] == ["TG002"]
