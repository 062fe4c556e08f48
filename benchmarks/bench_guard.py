"""Runtime guard and pytest plugin overhead.

Every ratio compares runs of this one invocation: guarded and unguarded runs alternate
(fresh interpreters, bytecode warm), and each figure is a median.

1. import a first-party tree of --modules modules (target <= 1.20x)
2. a function with a lazy ``import json`` called --hot times (target <= 2.5x), and the same
   with ``from json import dumps``
3. builtin-name lookups in guarded code, and the builtins mappings that were considered,
   per CPython 3.10-3.13 found (the running one, else ~/.pyenv/versions/<x.y>.*)
4. a realistic test suite with and without the pytest plugin (target <= 1.05x wall time):
   a generated one, and a real project's own suite (an sdist pip downloads into
   benchmarks/.work/sdists/, its package protected as the first-party root)
5. (1) again in instructions executed, under valgrind: a load-independent cross-check

    .venv/bin/python benchmarks/bench_guard.py              # everything
    .venv/bin/python benchmarks/bench_guard.py --rounds 3 --only current --parts guard,suite

Work files live in benchmarks/.work/guard/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work" / "guard"
VERSIONS = ("3.10", "3.11", "3.12", "3.13")
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
# Plugins of the dev venv that have nothing to do with this measurement; hypothesis alone
# costs seconds of startup. Left out of both sides, which makes the ratio conservative.
QUIET_PLUGINS = (
    *("-p", "no:hypothesispytest", "-p", "no:dispatch", "-p", "no:anyio"),
    *("-p", "no:django", "-p", "no:typeguard"),
)


def interpreters(only: str) -> dict[str, str]:
    current = f"{sys.version_info[0]}.{sys.version_info[1]}"
    found = {current: sys.executable}
    if only == "current":
        return found
    for version in VERSIONS:
        if version in found:
            continue
        candidates = [
            p
            for p in PYENV.glob(f"{version}.*/bin/python{version}")
            if re.fullmatch(rf"{re.escape(version)}\.\d+", p.parents[1].name)
        ]
        if candidates:
            best = max(candidates, key=lambda p: [int(x) for x in p.parents[1].name.split(".")])
            found[version] = str(best)
        else:
            print(f"# CPython {version}: not installed under {PYENV}, skipped")
    return dict(sorted(found.items()))


def child_env(extra_path: list[str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # warm bytecode for every variant
    env.pop("PYTHONPYCACHEPREFIX", None)
    env["PYTHONPATH"] = os.pathsep.join([*(extra_path or []), str(REPO)])
    return env


# --------------------------------------------------------------------------- the tree


def write_tree(root: Path, modules: int) -> None:
    """A deterministic first-party package ``benchapp`` with ``modules`` modules."""
    stamp = root / f".generated-{modules}"
    if stamp.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    per_package = 50
    packages = max(1, modules // per_package)
    names = []
    for p in range(packages):
        pkg = f"api.routers.r{p:02d}" if p % 10 == 0 else f"pkg{p:02d}"
        base = root / "benchapp" / pkg.replace(".", "/")
        base.mkdir(parents=True, exist_ok=True)
        for part in range(1, len(pkg.split(".")) + 1):
            init = root / "benchapp" / "/".join(pkg.split(".")[:part]) / "__init__.py"
            init.touch()
        for m in range(per_package):
            sibling = f"from benchapp.{pkg} import m{m - 1:02d}\n" if m else ""
            (base / f"m{m:02d}.py").write_text(
                textwrap.dedent(
                    f'''\
                    """benchapp.{pkg}.m{m:02d}"""
                    import json
                    import os.path
                    from collections import OrderedDict
                    {sibling}
                    CONSTANT = {p * 100 + m}


                    class Thing{m}:
                        def method(self, items):
                            return sorted(items)[: len(self.__class__.__name__)]


                    def helper(x):
                        return json.dumps(OrderedDict(value=x, base=os.path.basename("a/b")))
                    '''
                ).replace("\n\n\n\n", "\n\n\n")
            )
            names.append(f"benchapp.{pkg}.m{m:02d}")
    (root / "benchapp" / "__init__.py").touch()
    (root / "benchapp" / "everything.py").write_text("".join(f"import {name}\n" for name in names))
    (root / "benchapp" / "hot.py").write_text(
        textwrap.dedent(
            """\
            SEQ = (1, 2)


            def lazy():
                import json


            def lazy_from():
                from json import dumps


            def hot_loop(n):
                for _ in range(n):
                    lazy()


            def hot_from_loop(n):
                for _ in range(n):
                    lazy_from()


            def builtins_loop(n):
                for i in range(n):
                    len(SEQ)
                    abs(-1)
                    isinstance(i, int)
                    min(1, 2)
            """
        )
    )
    stamp.touch()


CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from taskguard import _hook
from taskguard._policy import Policy
mode, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
policy = Policy(root_packages=("benchapp",), protected=("benchapp.api.routers",),
                forbidden_in_protected=("httpx", "requests"))
if kind == "tree":
    start = time.perf_counter()
    if mode == "guard":
        _hook.install(policy)
    import benchapp.everything
    elapsed = time.perf_counter() - start
else:
    if mode == "guard":
        _hook.install(policy)
    import benchapp.hot as hot
    loop = {{"hot": hot.hot_loop, "hot_from": hot.hot_from_loop,
             "builtins": hot.builtins_loop}}[kind]
    loop(1000)
    start = time.perf_counter()
    loop(n)
    elapsed = time.perf_counter() - start
    if mode == "guard":
        assert type(hot.__builtins__).__name__ == "_GuardedBuiltins"
print(json.dumps(elapsed))
"""


def time_child(python: str, script: Path, mode: str, kind: str, n: int) -> float:
    out = subprocess.run(
        [python, str(script), mode, kind, str(n)],
        capture_output=True,
        text=True,
        check=True,
        env=child_env(),
        timeout=600,
    )
    return float(json.loads(out.stdout))


def guard_runtime(pythons: dict[str, str], args: argparse.Namespace) -> list[str]:
    root = WORK / "tree"
    write_tree(root, args.modules)
    script = WORK / "child.py"
    script.write_text(CHILD.format(root=str(root)))
    kinds = [
        ("tree", 0, f"import {args.modules} first-party modules"),
        ("hot", args.hot, f"lazy `import json` x {args.hot:,}"),
        ("hot_from", args.hot, f"lazy `from json import dumps` x {args.hot:,}"),
        ("builtins", args.hot, f"4 builtin lookups x {args.hot:,}"),
    ]
    rows = [
        "| CPython | measurement | unguarded (median s) | guarded (median s) | ratio |",
        "|---|---|---|---|---|",
    ]
    for version, python in pythons.items():
        for kind, n, label in kinds:
            for mode in ("plain", "guard"):  # warm-up: bytecode, page cache
                time_child(python, script, mode, kind, n // 10 if n else 0)
            samples: dict[str, list[float]] = {"plain": [], "guard": []}
            for r in range(args.rounds):
                order = ("plain", "guard") if r % 2 == 0 else ("guard", "plain")
                for mode in order:
                    samples[mode].append(time_child(python, script, mode, kind, n))
            plain = statistics.median(samples["plain"])
            guard = statistics.median(samples["guard"])
            rows.append(
                f"| {version} | {label} | {plain:.3f} | {guard:.3f} | **{guard / plain:.2f}x** |"
            )
            print(rows[-1], flush=True)
    return rows


# --------------------------------------------------------------------------- builtins


MAPPINGS = """
import builtins, json, statistics, sys, time
from taskguard._hook.importing import _make_import
from taskguard._hook.overlay import _GuardedBuiltins
REAL = builtins.__dict__
class PythonMissing(dict):
    def __missing__(self, key):
        return REAL[key]
class Subclass(dict):
    pass
SRC = '''
def work(n):
    for i in range(n):
        len(SEQ)
        abs(-1)
        isinstance(i, int)
        min(1, 2)
'''
def make(b):
    g = {"__name__": "m", "__builtins__": b, "SEQ": (1, 2)}
    exec(SRC, g)
    return g["work"]
variants = {
    "real builtins (unguarded)": REAL,
    "exact dict snapshot (not live)": dict(REAL, __import__=_make_import("m")),
    "dict subclass, every builtin copied (not live)": Subclass(REAL, __import__=_make_import("m")),
    "dict subclass, Python __missing__": PythonMissing(__import__=_make_import("m")),
    "dict subclass, C __missing__ (taskguard)": _GuardedBuiltins(__import__=_make_import("m")),
}
funcs = {k: make(v) for k, v in variants.items()}
n = int(sys.argv[1])
samples = {k: [] for k in funcs}
for f in funcs.values():
    f(1000)
for r in range(int(sys.argv[2])):
    for k, f in (list(funcs.items()) if r % 2 == 0 else list(funcs.items())[::-1]):
        start = time.perf_counter()
        f(n)
        samples[k].append(time.perf_counter() - start)
print(json.dumps({k: statistics.median(v) / n * 1e9 for k, v in samples.items()}))
"""


def builtins_mappings(pythons: dict[str, str], args: argparse.Namespace) -> list[str]:
    script = WORK / "mappings.py"
    script.write_text(MAPPINGS)
    rows: list[str] = []
    header_done = False
    for version, python in pythons.items():
        out = subprocess.run(
            [python, str(script), str(args.hot // 2), str(max(args.rounds, 5))],
            capture_output=True,
            text=True,
            check=True,
            env=child_env(),
            timeout=600,
        )
        ns = json.loads(out.stdout)
        base = ns["real builtins (unguarded)"]
        if not header_done:
            rows.append("| CPython | " + " | ".join(ns) + " |")
            rows.append("|---" * (len(ns) + 1) + "|")
            header_done = True
        cells = [f"{value:.1f} ns ({value / base:.2f}x)" for value in ns.values()]
        rows.append(f"| {version} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


# --------------------------------------------------------------------------- test suite


SUITE_PYPROJECT = """
[tool.taskguard]
root-packages = ["shop"]
sanctioned = ["shop.infrastructure.tasks_client"]
protected = ["shop.api.routers", "shop.worker.tasks"]

[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
addopts = ["--strict-markers", "-p", "no:cacheprovider"]
filterwarnings = ["error"]
"""


def write_suite(root: Path) -> None:
    """A service-shaped project: 120 modules, 40 test files, 440 tests."""
    stamp = root / ".generated"
    if stamp.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    files: dict[str, str] = {"pyproject.toml": SUITE_PYPROJECT, "shop/__init__.py": ""}
    areas = ["api/routers", "api/services", "worker/tasks", "models", "util", "infrastructure"]
    for area in areas:
        parts = area.split("/")
        for i in range(1, len(parts) + 1):
            files[f"shop/{'/'.join(parts[:i])}/__init__.py"] = ""
        for m in range(20):
            dotted = f"shop.{area.replace('/', '.')}.m{m:02d}"
            files[f"shop/{area}/m{m:02d}.py"] = textwrap.dedent(
                f'''\
                """{dotted}"""
                import dataclasses
                import re
                from shop.util.m{m:02d} import normalise as _normalise

                @dataclasses.dataclass
                class Record:
                    name: str
                    tags: list

                def normalise(text):
                    return re.sub(r"\\s+", " ", text).strip().lower()

                def build(names):
                    return [Record(_normalise(n), sorted(set(n.split()))) for n in names]

                def summarise(records):
                    import json
                    import collections
                    counts = collections.Counter(t for r in records for t in r.tags)
                    return json.dumps(dict(counts.most_common(5)), sort_keys=True)
                '''
            )
            if area == "util":
                files[f"shop/{area}/m{m:02d}.py"] = textwrap.dedent(
                    f'''\
                    """{dotted}"""
                    import re

                    def normalise(text):
                        return re.sub(r"\\s+", " ", text).strip().lower()
                    '''
                )
    files["tests/conftest.py"] = textwrap.dedent(
        """\
        import pytest

        @pytest.fixture
        def names():
            return [f"Episode  {i}  Part {i % 7}" for i in range(200)]
        """
    )
    for t in range(40):
        area = areas[t % len(areas)]
        if area == "util":
            area = "api/services"
        module = f"shop.{area.replace('/', '.')}.m{t % 20:02d}"
        files[f"tests/test_t{t:02d}.py"] = textwrap.dedent(
            f"""\
            import pytest
            from {module} import build, normalise, summarise

            @pytest.mark.parametrize("n", range(8))
            def test_build(names, n):
                records = build(names[n:])
                assert len(records) == len(names) - n

            def test_summary(names):
                assert summarise(build(names)).startswith("{{")

            def test_normalise(tmp_path):
                (tmp_path / "x.txt").write_text("  A  B ")
                assert normalise((tmp_path / "x.txt").read_text()) == "a b"

            def test_lazy_import():
                import importlib
                assert importlib.import_module("json").dumps([]) == "[]"
            """
        )
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    past = time.time() - 120  # old enough for the check's cache
    for path in root.rglob("*.py"):
        os.utime(path, (past, past))
    stamp.touch()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suite(root: Path, extra: list[str], expected: int) -> tuple[float, float]:
    """One pytest run of the suite in ``root``: its wall time and its CPU time (user +
    system of the whole process, which load on other cores does not stretch)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *QUIET_PLUGINS, *extra],
        cwd=root,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=900,
        check=False,
    )
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if proc.returncode != 0 or not re.search(rf"\b{expected} passed\b", proc.stdout):
        raise SystemExit(f"suite run failed ({extra}):\n{proc.stdout[-3000:]}\n{proc.stderr}")
    return elapsed, cpu


def compare_suites(
    root: Path, rounds: int, label: str, expected: dict[str, int]
) -> tuple[list[str], list[str]]:
    """Time the three plugin variants on the suite in ``root``, rotating their order each
    round; ``expected`` maps a variant to its count of passed tests."""
    variants = {
        "without the plugin (`-p no:taskguard`)": ["-p", "no:taskguard"],
        "plugin, guard only (`--no-taskguard-check`)": ["--no-taskguard-check"],
        "plugin, guard + `taskguard check` item (default)": [],
    }
    counts = dict(
        zip(variants, (expected["none"], expected["guard"], expected["default"]), strict=True)
    )
    for name, extra in variants.items():  # warm-up: bytecode and the check's cache
        run_suite(root, extra, counts[name])
    samples: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        order = list(variants.items())
        order = order[r % len(order) :] + order[: r % len(order)]
        for name, extra in order:
            wall, cpu = run_suite(root, extra, counts[name])
            samples[name].append(wall)
            cpus[name].append(cpu)
    first = next(iter(variants))
    base = statistics.median(samples[first])
    base_cpu = statistics.median(cpus[first])
    rows = [
        f"| {label} | median s | min s | max s | ratio | CPU median s | CPU ratio "
        "| per-round wall ratio: median (quartiles) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, values in samples.items():
        med = statistics.median(values)
        cpu = statistics.median(cpus[name])
        # Each round ran every variant once, back to back: the ratio within a round
        # cancels what drifts between rounds (load, frequency).
        paired = [v / b for v, b in zip(values, samples[first], strict=True)]
        q1, q2, q3 = statistics.quantiles(paired, n=4) if len(paired) > 1 else [paired[0]] * 3
        rows.append(
            f"| {name} | {med:.2f} | {min(values):.2f} | {max(values):.2f} | "
            f"**{med / base:.3f}x** | {cpu:.2f} | **{cpu / base_cpu:.3f}x** "
            f"| {q2:.3f}x ({q1:.3f}-{q3:.3f}) |"
        )
        print(rows[-1], flush=True)
    return rows, list(variants)


def suite(args: argparse.Namespace) -> list[str]:
    root = WORK / "suite"
    write_suite(root)
    rows, _ = compare_suites(
        root, args.rounds, "440 tests, 120 modules", {"none": 440, "guard": 440, "default": 441}
    )
    return [*rows, "", *real_suite(args)]


# --------------------------------------------------------------------------- a real suite

# A real project's own test suite, its package the first-party root and every module of it
# protected: pure Python, no test dependencies beyond pytest, ~2.5 s. The sdist comes from
# the package index through pip (pinned, so every run measures the same code).
REAL_PROJECT = ("more-itertools", "10.5.0", "more_itertools")
REAL_PYPROJECT = """
[tool.taskguard]
root-packages = ["{package}"]
protected = ["{package}"]

[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
addopts = ["-p", "no:cacheprovider"]
"""


def write_real_suite(root: Path) -> str | None:
    """The real project's package and tests in ``root``; the reason when it cannot be had."""
    stamp = root / ".generated"
    if stamp.exists():
        return None
    name, version, package = REAL_PROJECT
    sdists = HERE / ".work" / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    spellings = {f"{name}-{version}.tar.gz", f"{name.replace('-', '_')}-{version}.tar.gz"}
    found = [p for p in sdists.iterdir() if p.name in spellings]
    if not found:
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--no-binary", ":all:", f"{name}=={version}", "-d", str(sdists)),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        found = [p for p in sdists.iterdir() if p.name in spellings]
        if proc.returncode != 0 or not found:
            return f"pip download {name}=={version} failed: {proc.stderr.strip()[-400:]}"
    shutil.rmtree(root, ignore_errors=True)
    unpacked = root.with_name(root.name + ".unpacked")
    shutil.rmtree(unpacked, ignore_errors=True)
    with tarfile.open(found[0]) as archive:
        archive.extractall(unpacked, filter="data")
    (top,) = list(unpacked.iterdir())
    root.mkdir(parents=True)
    shutil.copytree(top / package, root / package)
    shutil.copytree(top / "tests", root / "tests")
    shutil.rmtree(unpacked)
    (root / "pyproject.toml").write_text(REAL_PYPROJECT.format(package=package))
    past = time.time() - 120  # old enough for the check's cache
    for path in root.rglob("*.py"):
        os.utime(path, (past, past))
    stamp.touch()
    return None


def real_suite(args: argparse.Namespace) -> list[str]:
    root = WORK / "real"
    problem = write_real_suite(root)
    name, version, package = REAL_PROJECT
    if problem is not None:
        line = f"# the real suite ({name} {version}) is skipped: {problem}"
        print(line, flush=True)
        return [line]
    proc = subprocess.run(  # how many tests pass without the plugin: the count to expect
        [sys.executable, "-m", "pytest", "-q", *QUIET_PLUGINS, "-p", "no:taskguard"],
        cwd=root,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=900,
        check=False,
    )
    match = re.search(r"\b(\d+) passed\b", proc.stdout)
    if proc.returncode != 0 or match is None:
        raise SystemExit(f"the real suite fails without the plugin:\n{proc.stdout[-3000:]}")
    passed = int(match.group(1))
    rows, _ = compare_suites(
        root,
        args.rounds,
        f"{name} {version}'s own suite ({passed} tests), `{package}` protected",
        {"none": passed, "guard": passed, "default": passed + 1},
    )
    return rows


def instructions(pythons: dict[str, str], args: argparse.Namespace) -> list[str]:
    """The tree import and the hot lazy imports again, in instructions executed (valgrind):
    immune to machine load."""
    if shutil.which("valgrind") is None:
        print("# valgrind not found: instruction counts skipped")
        return []
    root = WORK / "tree"
    write_tree(root, args.modules)
    script = WORK / "count.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "from taskguard import _hook\n"
        "from taskguard._policy import Policy\n"
        "mode, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
        "if mode == 'guard':\n"
        "    _hook.install(Policy(root_packages=('benchapp',), "
        "protected=('benchapp.api.routers',), forbidden_in_protected=('httpx',)))\n"
        "if kind == 'tree' and n:\n"
        "    import benchapp.everything\n"
        "elif kind != 'tree':\n"
        "    import benchapp.hot as hot\n"
        "    loop = {'hot': hot.hot_loop, 'hot_from': hot.hot_from_loop}[kind]\n"
        "    loop(100)\n"
        "    loop(n)\n"
    )

    def count(python: str, mode: str, kind: str, n: int) -> int:
        out = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                python,
                str(script),
                mode,
                kind,
                str(n),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
            env={**child_env(), "PYTHONMALLOC": "malloc"},
        )
        match = re.search(r"Collected : (\d+)", out.stderr)
        assert match is not None, out.stderr
        return int(match.group(1))

    hot_n = 20_000
    rows = [
        "| CPython | tree: unguarded | tree: guarded | ratio | `import json`, per call: "
        "unguarded / guarded | ratio | `from json import dumps`, per call: "
        "unguarded / guarded | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for version, python in pythons.items():
        for mode in ("plain", "guard"):
            subprocess.run(  # warm the bytecode caches
                [python, str(script), mode, "tree", "1"], check=True, env=child_env()
            )
        cells = []
        startup = count(python, "plain", "tree", 0)
        plain = count(python, "plain", "tree", 1) - startup
        # The guarded tree includes install(), as in the wall-time run.
        guard = count(python, "guard", "tree", 1) - startup
        cells.append(f"{plain / 1e6:,.0f} M | {guard / 1e6:,.0f} M | **{guard / plain:.2f}x**")
        for kind in ("hot", "hot_from"):
            per = {
                mode: (count(python, mode, kind, hot_n) - count(python, mode, kind, 0)) / hot_n
                for mode in ("plain", "guard")
            }
            ratio = per["guard"] / per["plain"]
            cells.append(f"{per['plain']:,.0f} / {per['guard']:,.0f} | **{ratio:.2f}x**")
        rows.append(f"| {version} | {' | '.join(cells)} |")
        print(rows[-1], flush=True)
    return rows


PARTS = ("guard", "builtins", "instructions", "suite")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--modules", type=int, default=2000)
    parser.add_argument("--hot", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("all", "current"), default="all")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}"
    )
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    WORK.mkdir(parents=True, exist_ok=True)
    pythons = interpreters(args.only)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {os.cpu_count()} CPUs, load average {load:.1f}; rounds={args.rounds}")
    runs = {
        "guard": lambda: guard_runtime(pythons, args),
        "builtins": lambda: builtins_mappings(pythons, args),
        "instructions": lambda: instructions(pythons, args),
        "suite": lambda: suite(args),
    }
    sections = [(name, runs[name]()) for name in PARTS if name in parts]
    print()
    for name, rows in sections:
        print(f"## {name}")
        print("\n".join(rows))
        print()


if __name__ == "__main__":
    main()
