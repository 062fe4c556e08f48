#!/usr/bin/env python3
"""Benchmark ``taskguard check`` against ruff (TID251 banned-api) and import-linter.

    .venv/bin/python benchmarks/bench_check.py [--modules 10000] [--runs 5] [--seed 0]

Generates (or reuses) the corpus of ``gen_corpus.py`` under ``benchmarks/corpus/``, then in
one invocation times, alternating the order of the tools every round:

* taskguard cold (its cache directory removed first), then cached (the same command again:
  the verdict memo replays the report), then cached after touching one module (the memo
  does not apply, the per-file record cache answers every other file), then with another
  policy (``--config taskguard-changed.toml``: a fresh record cache), and
  with ``--no-cache``: the default mode, where the sound byte prefilter decides which files
  are parsed;
* the same cold and cached pair with ``--parse-all``, the option that parses every file so
  that a syntax error anywhere is TG900 (a policy change then reuses the syntax verdicts);
* ruff cold (``--no-cache``) and cached, TID251 configured through nested per-package
  ``ruff.toml`` files (the corpus carries them);
* import-linter (``lint-imports --no-cache``), forbidden contracts, direct imports only;
* taskguard with ``indirect = true`` (cold; default and ``--parse-all``) and import-linter
  checking indirect chains.

It prints medians, the ratios the project targets, how each tool scored against the corpus
manifest (every planted violation found, no negative control flagged), and the start-up of
a cached ``taskguard check`` measured apart with ``python -X importtime``.

import-linter cannot finish on the corpus as generated (it aborts on a file with a syntax
error or an encoding it does not know, and walks into a symlinked directory loop), so it runs
on a hard-linked copy (``<corpus>.il-view``) without the symlink and with such files replaced
by an empty module; the plants in them count as missed by import-linter.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen_corpus  # noqa: E402 - the generator sits next to this script

CACHE_DIR = ".taskguard_cache"
# taskguard's racy window (taskguard._cache.RACY_NS), with a margin.
RACY_S = 2.1
VIEW_SUFFIX = ".il-view"
# Findings of other tools that mean "this file could not be checked".
RUFF_UNREADABLE = {"invalid-syntax", "E999", "E902", None}


# --------------------------------------------------------------------------- tools


def tool(name: str) -> str:
    """The executable next to this interpreter (the dev venv), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install the dev group (pip install -e . --group dev)")
    return found


@dataclass
class Run:
    stdout: str
    stderr: str
    returncode: int
    wall: float
    cpu: float


def run(cmd: Sequence[str], cwd: Path, ok: Iterable[int] = (0, 1)) -> Run:
    # A wide terminal keeps import-linter from wrapping the lines this script parses.
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "10000"}
    # Developers' machines keep bytecode: without it an editable taskguard recompiles its own
    # sources on every run, while the installed tools' .pyc files already exist.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in ok:
        raise SystemExit(
            f"{' '.join(cmd)} exited {proc.returncode} in {cwd}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return Run(proc.stdout, proc.stderr, proc.returncode, wall, cpu)


# --------------------------------------------------------------------------- corpus


def ensure_corpus(path: Path, modules: int, seed: int, regenerate: bool) -> dict[str, object]:
    manifest_path = path / gen_corpus.MANIFEST
    if manifest_path.exists() and not regenerate:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        same = (
            manifest.get("generator") == gen_corpus.generator_digest()
            and manifest.get("modules") == modules
            and manifest.get("seed") == seed
        )
        if same:
            return manifest  # type: ignore[no-any-return]
    print(f"generating {modules} modules into {path} ...", flush=True)
    manifest = gen_corpus.generate(path, modules, seed, force=True)
    # taskguard never caches a file modified in the last two seconds; a corpus written just
    # now would make the first rounds' "cached" runs partly uncached.
    past = time.time() - 60
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            os.utime(Path(dirpath) / name, (past, past))
    return manifest


CHANGED_CONFIG = "taskguard-changed.toml"


def write_changed_policy(corpus: Path) -> None:
    """The corpus policy with one more forbidden library (absent from the corpus): a run with
    it after a default run starts a fresh record cache but finds every syntax verdict."""
    text = (corpus / "pyproject.toml").read_text(encoding="utf-8")
    marker = "forbidden-in-protected = [\n"
    if marker not in text:
        raise SystemExit("the corpus pyproject.toml has no forbidden-in-protected list")
    changed = text.replace(marker, marker + '    "xmlrpc.client",\n', 1)
    (corpus / CHANGED_CONFIG).write_text(changed, encoding="utf-8")


def module_paths(corpus: Path, roots: Iterable[str]) -> dict[str, str]:
    """Dotted module name -> corpus-relative path, without following symlinks."""
    out = {}
    for root in roots:
        for dirpath, _dirs, files in os.walk(corpus / root):
            for name in files:
                if name.endswith(".py"):
                    rel = (Path(dirpath) / name).relative_to(corpus).as_posix()
                    out[gen_corpus.module_name(rel)] = rel
    return out


def build_il_view(corpus: Path, roots: Sequence[str]) -> Path:
    """A hard-linked copy of the corpus for import-linter: no symlinks."""
    view = corpus.with_name(corpus.name + VIEW_SUFFIX)
    if view.exists():
        shutil.rmtree(view)
    view.mkdir()
    for name in ("importlinter-direct.ini", "importlinter-indirect.ini"):
        os.link(corpus / name, view / name)
    for root in roots:
        for dirpath, dirs, files in os.walk(corpus / root):
            rel = Path(dirpath).relative_to(corpus)
            (view / rel).mkdir(exist_ok=True)
            dirs[:] = [d for d in dirs if not (Path(dirpath) / d).is_symlink()]
            for name in files:
                os.link(Path(dirpath) / name, view / rel / name)
    return view


_IL_ABORT = re.compile(r"(?:Syntax error in|Failed to decode file) (\S+?\.py)")


def stub_il_blockers(view: Path, cmd: list[str]) -> list[str]:
    """Run import-linter until it stops aborting, replacing each file it cannot read."""
    stubbed: list[str] = []
    for _ in range(50):
        result = run(cmd, view, ok=range(256))
        match = _IL_ABORT.search(result.stdout + result.stderr)
        if result.returncode in (0, 1) and "Contracts:" in result.stdout:
            return stubbed
        if match is None:
            raise SystemExit(f"import-linter failed:\n{result.stdout[-3000:]}{result.stderr}")
        bad = Path(match.group(1))
        rel = bad.relative_to(view).as_posix() if bad.is_absolute() else bad.as_posix()
        target = view / rel
        target.unlink()
        target.write_text("", encoding="utf-8")
        stubbed.append(rel)
    raise SystemExit("import-linter kept aborting")


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    code: str | None
    imported: str | None = None


@dataclass
class Score:
    tool: str
    found: list[dict[str, object]] = field(default_factory=list)
    missed: list[dict[str, object]] = field(default_factory=list)
    flagged: list[tuple[dict[str, object], Finding]] = field(default_factory=list)
    extras: list[Finding] = field(default_factory=list)
    not_applicable: list[dict[str, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self, plants: int) -> str:
        na = f", {len(self.not_applicable)} with no equivalent" if self.not_applicable else ""
        return (
            f"{self.tool}: {len(self.found)}/{plants} plants found{na}, "
            f"{len(self.flagged)} control lines flagged, {len(self.extras)} other findings"
        )


def _on(mark: dict[str, object], finding: Finding) -> bool:
    return (
        finding.path == mark["path"] and int(mark["line"]) <= finding.line <= int(mark["end_line"])  # type: ignore[call-overload]
    )


def score(
    name: str,
    findings: list[Finding],
    plants: list[dict[str, object]],
    controls: list[dict[str, object]],
    *,
    exact: bool,
    applicable: Callable[[dict[str, object]], bool] = lambda _p: True,
    matches: Callable[[dict[str, object], Finding], bool] | None = None,
) -> Score:
    """Score ``findings`` against the manifest.

    ``exact`` (taskguard): a plant is found by a finding with its path, first line and code
    (and the imported name, where the plant names one). Otherwise (other tools) a finding
    anywhere on the plant's lines counts, whatever its code.
    """
    result = Score(name)
    used: set[Finding] = set()
    for plant in plants:
        if not applicable(plant):
            result.not_applicable.append(plant)
            continue
        if exact:
            hits = [
                f
                for f in findings
                if f.path == plant["path"] and f.line == plant["line"] and f.code == plant["code"]
            ]
            good = [f for f in hits if plant["imported"] is None or f.imported == plant["imported"]]
            if hits and not good:
                result.notes.append(
                    f"{plant['path']}:{plant['line']} {plant['code']}: reported imported "
                    f"{sorted({str(f.imported) for f in hits})}, expected {plant['imported']}"
                )
        else:
            hits = good = [f for f in findings if (matches(plant, f) if matches else _on(plant, f))]
        used.update(hits)
        (result.found if good else result.missed).append(plant)
    for finding in findings:
        if finding in used:
            continue
        control = next((c for c in controls if _on(c, finding)), None)
        if control is not None:
            result.flagged.append((control, finding))
        else:
            result.extras.append(finding)
    return result


def taskguard_findings(out: str) -> tuple[list[Finding], int | None]:
    data = json.loads(out)
    return (
        [Finding(v["path"], v["line"], v["code"], v.get("imported")) for v in data["violations"]],
        data.get("files_checked"),
    )


def ruff_findings(out: str, corpus: Path) -> list[Finding]:
    findings = []
    for item in json.loads(out or "[]"):
        path = Path(item["filename"])
        rel = path.relative_to(corpus).as_posix() if path.is_absolute() else path.as_posix()
        findings.append(Finding(rel, item["location"]["row"], item.get("code")))
    return findings


_RUFF_SKIPPED = re.compile(r"Failed to lint (\S+?\.py)")


def ruff_skipped(stderr: str) -> list[str]:
    return _RUFF_SKIPPED.findall(stderr)


_IL_LINE = re.compile(r"^(-?)\s*([\w.]+) -> ([\w.]+) \(([^)]*)\)\s*$")


def il_findings(out: str, paths: dict[str, str]) -> list[Finding]:
    """The first hop of every chain import-linter prints (``-   a -> b (l.3, l.9)``)."""
    findings = []
    for raw in out.splitlines():
        m = _IL_LINE.match(raw.strip())
        if not m or not m.group(1):
            continue
        importer, imported, lines = m.group(2), m.group(3), m.group(4)
        path = paths.get(importer, importer)
        for number in re.findall(r"l\.(\d+)", lines):
            findings.append(Finding(path, int(number), None, imported))
    return findings


# --------------------------------------------------------------------------- main


@dataclass
class Timings:
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, r: Run) -> None:
        self.wall.setdefault(key, []).append(r.wall)
        self.cpu.setdefault(key, []).append(r.cpu)

    def median(self, key: str) -> float:
        return statistics.median(self.wall[key])


def machine(ruff: str, taskguard: str, root: Path) -> dict[str, str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    probe = run([sys.executable, "-c", "import taskguard; print(taskguard.__file__)"], root)
    return {
        "nproc": str(affinity or os.cpu_count()),
        "cpu": cpu or platform.processor() or "unknown",
        "os": platform.platform(),
        "python": platform.python_version(),
        "taskguard": f"{version('taskguard')} from {Path(probe.stdout.strip()).parent}",
        "ruff": run([ruff, "--version"], root).stdout.strip(),
        "import-linter": version("import-linter"),
        "grimp": version("grimp"),
    }


def profile_taskguard(corpus: Path, top: int) -> str:
    """cProfile of one cold in-process ``taskguard check --jobs 1``.

    One process, so the profile sees all the work; the timed runs may use worker processes.
    """
    from taskguard import _cli  # the checker, run in this process so cProfile sees it

    shutil.rmtree(corpus / CACHE_DIR, ignore_errors=True)
    cwd = os.getcwd()
    os.chdir(corpus)
    profiler = cProfile.Profile()
    sink = io.StringIO()
    saved = sys.stdout
    try:
        sys.stdout = sink
        profiler.enable()
        with contextlib.suppress(SystemExit):
            _cli.main(["check", "--format", "json", "--jobs", "1"])
        profiler.disable()
    finally:
        sys.stdout = saved
        os.chdir(cwd)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return text.getvalue()


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def startup(corpus: Path, tg: list[str], runs: int) -> str:
    """The imports of a cached ``taskguard check``, from ``python -X importtime``.

    The same command as the timed cached run, in the interpreter of the console script, on a
    warm cache, as the console script runs it (the verdict memo replays the report), then
    through the CLI itself (``taskguard._cli.main``, which never replays: the record cache
    answers, as when one file changed); the best of ``runs`` for each module (start-up times
    are noisy), and the same for ``python -c pass`` (the interpreter's own start-up imports).
    """
    run(tg, corpus)  # a warm cache, and a memo
    shebang = Path(tg[0]).read_text(encoding="utf-8").splitlines()[0]
    python = shebang.removeprefix("#!").strip() if shebang.startswith("#!") else sys.executable
    replayed = (
        f"import sys; sys.argv = ['taskguard', *{tg[1:]!r}]; "
        "from taskguard.__main__ import main; sys.exit(main())"
    )
    full = f"import sys; from taskguard._cli import main; sys.exit(main({tg[1:]!r}))"
    return "\n\n".join(
        _imports_table(corpus, python, program, runs, what)
        for program, what in (
            (replayed, "a cached run (the console script: the memo replays)"),
            (full, "a cached run without the memo (taskguard._cli.main: the record cache)"),
        )
    )


def _imports_table(corpus: Path, python: str, code: str, runs: int, what: str) -> str:

    def measure(program: str) -> tuple[float, dict[str, tuple[int, int, int]]]:
        best: dict[str, tuple[int, int, int]] = {}
        totals = []
        for _ in range(runs):
            out = run([python, "-X", "importtime", "-c", program], corpus)
            total = 0
            for line in out.stderr.splitlines():
                match = _IMPORT_LINE.match(line)
                if match is None:
                    continue
                own, cumulative, depth = int(match[1]), int(match[2]), len(match[3]) // 2
                total += own
                name = match[4]
                seen = best.get(name)
                best[name] = (
                    min(own, seen[0]) if seen else own,
                    min(cumulative, seen[1]) if seen else cumulative,
                    depth,
                )
            totals.append(total)
        return min(totals) / 1000, best

    bare_total, _bare = measure("pass")
    total, best = measure(code)
    lines = [
        f"start-up of {what} (python -X importtime, best of {runs}): all imports "
        f"{total:.1f} ms, of which the interpreter's own (python -c pass) {bare_total:.1f} ms",
        "| module | depth | cumulative ms | own ms |",
        "|---|---|---|---|",
    ]
    for name, (own, cumulative, depth) in sorted(best.items(), key=lambda kv: -kv[1][1]):
        if depth <= 3 and cumulative >= 300:
            lines.append(f"| {name} | {depth} | {cumulative / 1000:.1f} | {own / 1000:.1f} |")
    return "\n".join(lines)


def fmt(seconds: float) -> str:
    return f"{seconds:.3f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, help="default: benchmarks/corpus/m<N>-s<seed>")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        default=0,
        help="print the top N functions of a cProfile of one cold --jobs 1 run",
    )
    args = parser.parse_args(argv)

    corpus = (args.corpus or HERE / "corpus" / f"m{args.modules}-s{args.seed}").resolve()
    manifest = ensure_corpus(corpus, args.modules, args.seed, args.regenerate)
    roots: list[str] = manifest["roots"]  # type: ignore[assignment]
    plants: list[dict[str, object]] = manifest["plants"]  # type: ignore[assignment]
    controls: list[dict[str, object]] = manifest["controls"]  # type: ignore[assignment]
    iplants: list[dict[str, object]] = manifest["indirect_plants"]  # type: ignore[assignment]
    icontrols: list[dict[str, object]] = manifest["indirect_controls"]  # type: ignore[assignment]
    paths = module_paths(corpus, roots)

    taskguard, ruff, lint_imports = tool("taskguard"), tool("ruff"), tool("lint-imports")
    tg = [taskguard, "check", "--format", "json"]
    tg_indirect = [*tg, "--config", "taskguard-indirect.toml"]
    ruff_cmd = [ruff, "check", "--output-format", "json", *roots]
    il_direct = [lint_imports, "--no-cache", "--no-logo", "importlinter-direct.ini"]
    il_indirect = [lint_imports, "--no-cache", "--no-logo", "importlinter-indirect.ini"]

    write_changed_policy(corpus)
    info = machine(ruff, taskguard, corpus)
    view = build_il_view(corpus, roots)
    stubbed = stub_il_blockers(view, il_direct)
    stub_il_blockers(view, il_indirect)

    def clear() -> None:
        shutil.rmtree(corpus / CACHE_DIR, ignore_errors=True)

    # A file changed less than two seconds ago is never cached, and a run that read one is
    # never memoised: a cold run then leaves no memo for the "cached" run that follows it.
    # So cold runs wait until the last change to a corpus file is that old (the wait is not
    # timed): a touch below, or anything before now (the generation; the hard links of the
    # import-linter view, which renew every file's change time).
    last_change = [time.time()]

    def settle() -> None:
        wait = last_change[0] + RACY_S - time.time()
        if wait > 0:
            time.sleep(wait)

    touched = corpus / sorted(paths.values())[0]

    timings = Timings()
    outputs: dict[str, Run] = {}

    def unit_taskguard(record: bool) -> None:
        settle()
        clear()
        cold = run(tg, corpus)
        if not (corpus / CACHE_DIR).exists():
            print(f"warning: no {CACHE_DIR}/ after a run: 'cold' may not be cold", flush=True)
        if not list((corpus / CACHE_DIR).glob("run-*.bin")):
            print("warning: the cold run left no verdict memo: 'cached' is not a replay")
        cached = run(tg, corpus)
        # Another policy: every record is made again.
        changed = run([*tg, "--config", CHANGED_CONFIG], corpus)
        # One module touched (its content unchanged): the memo no longer applies, the record
        # cache serves every other file and that one is read again.
        os.utime(touched)
        last_change[0] = time.time()
        one_touched = run(tg, corpus)
        if record:
            timings.add("taskguard cold", cold)
            timings.add("taskguard cached", cached)
            timings.add("taskguard after a policy change", changed)
            timings.add("taskguard cached, one file touched", one_touched)
        outputs["taskguard cold"], outputs["taskguard cached"] = cold, cached
        outputs["taskguard cached, one file touched"] = one_touched

    def unit_taskguard_parse_all(record: bool) -> None:
        settle()
        clear()
        cold = run([*tg, "--parse-all"], corpus)
        cached = run([*tg, "--parse-all"], corpus)
        # Another policy: every record is made again, the syntax verdicts are reused.
        changed = run([*tg, "--parse-all", "--config", CHANGED_CONFIG], corpus)
        if record:
            timings.add("taskguard --parse-all cold", cold)
            timings.add("taskguard --parse-all cached", cached)
            timings.add("taskguard --parse-all after a policy change", changed)
        outputs["taskguard --parse-all cold"] = cold
        outputs["taskguard --parse-all cached"] = cached

    def unit_taskguard_indirect_parse_all(record: bool) -> None:
        clear()
        r = run([*tg_indirect, "--parse-all"], corpus)
        if record:
            timings.add("taskguard indirect --parse-all cold", r)
        outputs["taskguard indirect --parse-all"] = r

    def unit_taskguard_no_cache(record: bool) -> None:
        r = run([*tg, "--no-cache"], corpus)
        if record:
            timings.add("taskguard --no-cache", r)
        outputs["taskguard --no-cache"] = r

    def unit_ruff(record: bool) -> None:
        cold = run([*ruff_cmd[:2], "--no-cache", *ruff_cmd[2:]], corpus)
        cached = run(ruff_cmd, corpus)
        if record:
            timings.add("ruff cold", cold)
            timings.add("ruff cached", cached)
        outputs["ruff cold"], outputs["ruff cached"] = cold, cached

    def unit_il(record: bool) -> None:
        r = run(il_direct, view)
        if record:
            timings.add("import-linter", r)
        outputs["import-linter"] = r

    def unit_taskguard_indirect(record: bool) -> None:
        clear()
        r = run(tg_indirect, corpus)
        if record:
            timings.add("taskguard indirect cold", r)
        outputs["taskguard indirect"] = r

    def unit_il_indirect(record: bool) -> None:
        r = run(il_indirect, view)
        if record:
            timings.add("import-linter indirect", r)
        outputs["import-linter indirect"] = r

    units = [
        unit_taskguard,
        unit_ruff,
        unit_il,
        unit_taskguard_parse_all,
        unit_taskguard_no_cache,
        unit_taskguard_indirect,
        unit_il_indirect,
        unit_taskguard_indirect_parse_all,
    ]
    print("warm-up round (not timed) ...", flush=True)
    for unit in units:
        unit(False)
    loads = [os.getloadavg()[0]]
    for round_ in range(args.runs):
        shift = round_ % len(units)
        order = units[shift:] + units[:shift]
        if round_ % 2:
            order.reverse()
        print(
            f"round {round_ + 1}/{args.runs}: "
            + ", ".join(u.__name__.removeprefix("unit_") for u in order),
            flush=True,
        )
        for unit in order:
            unit(True)
        loads.append(os.getloadavg()[0])

    # ------------------------------------------------------------------ correctness
    tg_f, files_checked = taskguard_findings(outputs["taskguard cold"].stdout)
    tg_cached_f, _ = taskguard_findings(outputs["taskguard cached"].stdout)
    tg_touched_f, _ = taskguard_findings(outputs["taskguard cached, one file touched"].stdout)
    tg_nc_f, _ = taskguard_findings(outputs["taskguard --no-cache"].stdout)
    tg_score = score("taskguard", tg_f, plants, controls, exact=True)
    consistent = (
        sorted(tg_f, key=repr)
        == sorted(tg_cached_f, key=repr)
        == sorted(tg_touched_f, key=repr)
        == sorted(tg_nc_f, key=repr)
    )
    # The replayed report is the cold run's, byte for byte.
    replay_identical = outputs["taskguard cached"].stdout == outputs["taskguard cold"].stdout
    tgi_f, _ = taskguard_findings(outputs["taskguard indirect"].stdout)
    tgi_score = score(
        "taskguard indirect", tgi_f, plants + iplants, controls + icontrols, exact=True
    )
    tgf_f, _ = taskguard_findings(outputs["taskguard --parse-all cold"].stdout)
    tgf_cached_f, _ = taskguard_findings(outputs["taskguard --parse-all cached"].stdout)
    tgf_score = score("taskguard --parse-all", tgf_f, plants, controls, exact=True)
    parse_all_consistent = sorted(tgf_f, key=repr) == sorted(tgf_cached_f, key=repr)
    tgfi_f, _ = taskguard_findings(outputs["taskguard indirect --parse-all"].stdout)
    tgfi_score = score(
        "taskguard indirect --parse-all",
        tgfi_f,
        plants + iplants,
        controls + icontrols,
        exact=True,
    )

    ruff_f = ruff_findings(outputs["ruff cold"].stdout, corpus)
    skipped = ruff_skipped(outputs["ruff cold"].stderr)
    ruff_f += [Finding(p, 1, "E902") for p in skipped]

    def ruff_applicable(plant: dict[str, object]) -> bool:
        return plant["code"] not in ("TG003", "TG005")

    def ruff_matches(plant: dict[str, object], f: Finding) -> bool:
        if plant["code"] == "TG900":
            return f.path == plant["path"] and f.code in RUFF_UNREADABLE
        return f.code == "TID251" and _on(plant, f)

    ruff_score = score(
        "ruff TID251",
        ruff_f,
        plants,
        controls,
        exact=False,
        applicable=ruff_applicable,
        matches=ruff_matches,
    )
    if skipped:
        ruff_score.notes.append(
            "could not read (warning only, file skipped): " + ", ".join(skipped)
        )

    def il_applicable(plant: dict[str, object]) -> bool:
        return plant["code"] in ("TG001", "TG002", "TG004")

    il_f = il_findings(outputs["import-linter"].stdout, paths)
    il_score = score("import-linter", il_f, plants, controls, exact=False, applicable=il_applicable)
    ili_f = il_findings(outputs["import-linter indirect"].stdout, paths)
    ili_score = score(
        "import-linter indirect",
        ili_f,
        plants + iplants,
        controls + icontrols,
        exact=False,
        applicable=il_applicable,
    )
    for s in (il_score, ili_score):
        if stubbed:
            s.notes.append("aborted on (replaced by an empty module): " + ", ".join(stubbed))
        s.notes.append("followed the symlinked directory loop (the view leaves it out)")

    # ------------------------------------------------------------------ report
    m = timings.median

    def cpu(key: str) -> float:
        return statistics.median(timings.cpu[key])

    # (label, numerator, denominator, target, bound): met when num <= bound * den, or for
    # ">=" targets when num >= bound * den; no bound: shown, no target.
    comparisons: list[tuple[str, str, str, str, float | None]] = [
        ("taskguard cold / ruff cold", "taskguard cold", "ruff cold", "<=", 0.8),
        ("import-linter / taskguard cold", "import-linter", "taskguard cold", ">=", 8.0),
        ("taskguard cached / ruff cached", "taskguard cached", "ruff cached", "<=", 1.25),
        (
            "taskguard indirect / import-linter indirect",
            "taskguard indirect cold",
            "import-linter indirect",
            "<=",
            1.0,
        ),
        ("--parse-all cold / ruff cold", "taskguard --parse-all cold", "ruff cold", "", None),
        (
            "--parse-all cached / ruff cached",
            "taskguard --parse-all cached",
            "ruff cached",
            "",
            None,
        ),
        (
            "--parse-all indirect / import-linter indirect",
            "taskguard indirect --parse-all cold",
            "import-linter indirect",
            "",
            None,
        ),
    ]

    def target_met(a: str, b: str, op: str, bound: float | None) -> bool | None:
        if bound is None:
            return None
        return m(a) <= bound * m(b) if op == "<=" else m(a) >= bound * m(b)

    ratios = [
        (
            label,
            m(a) / m(b),
            f"{op} {bound:.2f}" if bound is not None else "-",
            target_met(a, b, op, bound),
        )
        for label, a, b, op, bound in comparisons
    ]
    cpu_ratios = [cpu(a) / cpu(b) for _label, a, b, _op, _bound in comparisons]
    print()
    shown = corpus.relative_to(HERE.parent) if corpus.is_relative_to(HERE.parent) else corpus
    print(f"corpus: {shown}")
    print(
        f"  {manifest['modules']} modules, {manifest['lines']} lines, "
        f"{len(roots)} root packages, {len(plants)} plants, {len(controls)} controls, "
        f"{len(iplants)} indirect plants, {len(icontrols)} indirect controls"
    )
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(
        f"runs: {args.runs} alternating rounds after one warm-up; wall-clock medians "
        "(min-max), CPU = user+sys of the process tree"
    )
    # Other work on the machine inflates wall-clock times; CPU times suffer far less.
    print("1-minute load average before/after each round: " + ", ".join(f"{x:.1f}" for x in loads))
    print()
    print("| run | median | min - max | CPU median |")
    print("|---|---|---|---|")
    for key in timings.wall:
        w = timings.wall[key]
        print(
            f"| {key} | {fmt(m(key))} | {fmt(min(w))} - {fmt(max(w))} | "
            f"{fmt(statistics.median(timings.cpu[key]))} |"
        )
    print()
    print("| ratio (medians) | wall | target | met | CPU |")
    print("|---|---|---|---|---|")
    for (label, value, target, met), cpu_ratio in zip(ratios, cpu_ratios, strict=True):
        verdict = "-" if met is None else "yes" if met else "NO"
        print(f"| {label} | {value:.2f}x | {target} | {verdict} | {cpu_ratio:.2f}x |")
    print()
    print("correctness against the manifest:")
    for s, n in (
        (tg_score, len(plants)),
        (tgi_score, len(plants) + len(iplants)),
        (tgf_score, len(plants)),
        (tgfi_score, len(plants) + len(iplants)),
        (ruff_score, len(plants)),
        (il_score, len(plants)),
        (ili_score, len(plants) + len(iplants)),
    ):
        print(f"- {s.summary(n)}")
    print(
        f"- taskguard cold, cached, one-file-touched and --no-cache results identical: "
        f"{consistent}; cached report byte-identical to the cold one: {replay_identical}"
    )
    print(f"- taskguard --parse-all cold and cached results identical: {parse_all_consistent}")
    print(
        f"- taskguard files_checked {files_checked}, manifest judged_files "
        f"{manifest['judged_files']}"
    )
    for s in (tg_score, tgi_score, tgf_score, tgfi_score, ruff_score, il_score, ili_score):
        if not (s.missed or s.flagged or s.extras or s.notes):
            continue
        print(f"\n{s.tool}:")
        for p in s.missed:
            print(f"  missed  {p['path']}:{p['line']} {p['code']} {p['imported']} [{p['form']}]")
        for c, f in s.flagged:
            print(
                f"  flagged {f.path}:{f.line} {f.code or ''} {f.imported or ''} "
                f"(control [{c['form']}])"
            )
        for f in s.extras[:15]:
            print(f"  extra   {f.path}:{f.line} {f.code or ''} {f.imported or ''}")
        if len(s.extras) > 15:
            print(f"  ... and {len(s.extras) - 15} more other findings")
        for note in s.notes:
            print(f"  note    {note}")
    missed_forms = {
        s.tool: sorted({str(p["form"]) for p in s.missed}) for s in (ruff_score, il_score)
    }
    print()
    for name, forms in missed_forms.items():
        print(f"{name} misses forms: {', '.join(forms) or 'none'}")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "corpus": {k: manifest[k] for k in ("modules", "lines", "seed", "roots")},
                    "runs": args.runs,
                    "wall": timings.wall,
                    "cpu": timings.cpu,
                    "ratios": {label: value for label, value, _t, _m in ratios},
                    "cpu_ratios": {r[0]: c for r, c in zip(ratios, cpu_ratios, strict=True)},
                    "load": loads,
                    "scores": {
                        s.tool: {
                            "found": len(s.found),
                            "missed": [f"{p['path']}:{p['line']}" for p in s.missed],
                            "flagged": [f"{f.path}:{f.line}" for _c, f in s.flagged],
                            "extras": len(s.extras),
                            "not_applicable": len(s.not_applicable),
                        }
                        for s in (
                            tg_score,
                            tgi_score,
                            tgf_score,
                            tgfi_score,
                            ruff_score,
                            il_score,
                            ili_score,
                        )
                    },
                },
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
    print()
    print(startup(corpus, tg, max(10, 2 * args.runs)))
    if args.profile:
        print()
        print(profile_taskguard(corpus, args.profile))
    clear()
    shutil.rmtree(view, ignore_errors=True)
    # The default mode may miss only what it documents: a syntax error in a file it rules out.
    default_ok = all(p["form"] == "syntax-error" for p in tg_score.missed + tgi_score.missed)
    ok = (
        default_ok
        and not (tg_score.flagged or tg_score.extras or tgi_score.flagged or tgi_score.extras)
        and not (tgf_score.missed or tgf_score.flagged or tgf_score.extras)
        and not (tgfi_score.missed or tgfi_score.flagged or tgfi_score.extras)
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
