"""The benchmark corpus, checked end to end through the installed console script.

``benchmarks/gen_corpus.py`` plants a violation of every import form the checker must catch,
and negative controls that only look like violations, and lists each one in a manifest. Here
a small corpus is generated and ``taskguard check --format json`` must report exactly the
plants (right path, line, code and imported name) and nothing else: with ``--parse-all``,
cold, cached and with ``--no-cache``, and with ``indirect = true``. The default mode must
report the same except what it documents: a syntax error in a file that cannot hold a
relevant import (the byte prefilter rules it out, so it is not parsed).
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import time
import tokenize
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from taskguard import load_policy
from taskguard._static.prefilter import Prefilter

REPO = Path(__file__).resolve().parents[2]
MODULES = 150
SEED = 7
# The plant forms the default mode leaves unreported by design: it does not parse a file the
# prefilter proves unable to hold a relevant import, so a syntax error in one is not seen.
PREFILTER_UNREPORTED = {"syntax-error"}


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_corpus", REPO / "benchmarks" / "gen_corpus.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_corpus", module)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _backdate(root: Path) -> None:
    # The cache never stores a file modified within the last two seconds (its mtime could
    # still change unseen), so fresh files would make the "cached" run silently uncached.
    past = time.time() - 60
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            os.utime(Path(dirpath) / name, (past, past))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("corpus") / "service"
    manifest = gen.generate(out, MODULES, SEED)
    _backdate(out)
    return out, manifest


def _command() -> list[str]:
    script = Path(sys.executable).parent / "taskguard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "taskguard"]


def _check(root: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [*_command(), "check", "--format", "json", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


@pytest.fixture(scope="module")
def runs(corpus: tuple[Path, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    root, _manifest = corpus
    shutil.rmtree(root / ".taskguard_cache", ignore_errors=True)
    cold = _check(root)
    cache_files = list((root / ".taskguard_cache").glob("*"))
    cached = _check(root)
    # --parse-all on the cache the default runs wrote, and cold: the same result.
    parse_all_cached = _check(root, "--parse-all")
    indirect = "taskguard-indirect.toml"
    return {
        "cold": cold,
        "cached": cached,
        "no-cache": _check(root, "--no-cache"),
        "indirect": _check(root, "--config", indirect),
        "parse-all": _check(root, "--parse-all", "--no-cache"),
        "parse-all-cached": parse_all_cached,
        "parse-all-again": _check(root, "--parse-all"),
        "parse-all-indirect": _check(root, "--parse-all", "--no-cache", "--config", indirect),
        "parse-all-indirect-cached": _check(root, "--parse-all", "--config", indirect),
        "_cache_written": {"files": [p.name for p in cache_files]},
    }


def _reported_plants(plants: list[dict[str, Any]], run: str) -> list[dict[str, Any]]:
    if run.startswith("parse-all"):
        return plants
    return [p for p in plants if p["form"] not in PREFILTER_UNREPORTED]


def _compare(
    report: dict[str, Any], plants: list[dict[str, Any]], controls: list[dict[str, Any]]
) -> tuple[list[str], list[str], list[str]]:
    """Plants not reported, controls reported, and other reports, as readable lines.

    A plant is found by a violation with its path, first line and code, and (where the
    plant names one) its imported name. Anything on a control's lines is a flagged control.
    """
    expected = {(p["path"], p["line"], p["code"]): p for p in plants}
    got: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for v in report["violations"]:
        got.setdefault((v["path"], v["line"], v["code"]), []).append(v)
    missing = []
    for key, plant in expected.items():
        names = [v["imported"] for v in got.get(key, [])]
        if not names or (plant["imported"] is not None and plant["imported"] not in names):
            missing.append(
                f"{plant['path']}:{plant['line']} {plant['code']} {plant['imported']} "
                f"[{plant['form']}] reported as {names}"
            )
    on_control = {
        (c["path"], line): c["form"]
        for c in controls
        for line in range(c["line"], c["end_line"] + 1)
    }
    flagged, unexpected = [], []
    for key, found in got.items():
        if key in expected:
            continue
        for v in found:
            text = f"{v['path']}:{v['line']} {v['code']} {v['imported']}"
            form = on_control.get((v["path"], v["line"]))
            if form is None:
                unexpected.append(text)
            else:
                flagged.append(f"{text} [control {form}]")
    return missing, flagged, unexpected


@pytest.mark.parametrize(
    "run", ["cold", "cached", "no-cache", "parse-all", "parse-all-cached", "parse-all-again"]
)
def test_every_plant_found_and_no_control_flagged(
    corpus: tuple[Path, dict[str, Any]], runs: dict[str, dict[str, Any]], run: str
) -> None:
    _root, manifest = corpus
    plants = _reported_plants(manifest["plants"], run)
    missing, flagged, unexpected = _compare(runs[run], plants, manifest["controls"])
    assert not missing, "plants not reported:\n" + "\n".join(missing)
    assert not flagged, "controls flagged:\n" + "\n".join(flagged)
    assert not unexpected, "reported but not planted:\n" + "\n".join(unexpected)
    assert runs[run]["files_checked"] == manifest["judged_files"]


def test_cached_and_uncached_runs_agree(runs: dict[str, dict[str, Any]]) -> None:
    assert runs["_cache_written"]["files"], "the cold run wrote no cache"
    assert runs["cached"] == runs["cold"]
    assert runs["no-cache"] == runs["cold"]
    assert runs["parse-all-cached"] == runs["parse-all-again"] == runs["parse-all"]
    assert runs["parse-all-indirect-cached"] == runs["parse-all-indirect"]


@pytest.mark.parametrize("run", ["indirect", "parse-all-indirect"])
def test_indirect_finds_chains_and_still_every_plant(
    corpus: tuple[Path, dict[str, Any]], runs: dict[str, dict[str, Any]], run: str
) -> None:
    _root, manifest = corpus
    plants = _reported_plants(manifest["plants"], run) + manifest["indirect_plants"]
    controls = manifest["controls"] + manifest["indirect_controls"]
    missing, flagged, unexpected = _compare(runs[run], plants, controls)
    assert not missing, "plants not reported:\n" + "\n".join(missing)
    assert not flagged, "controls flagged:\n" + "\n".join(flagged)
    assert not unexpected, "reported but not planted:\n" + "\n".join(unexpected)
    assert {p["code"] for p in manifest["indirect_plants"]} == {"TG004"}


def test_the_syntax_error_plant_is_in_a_file_the_prefilter_rules_out(
    corpus: tuple[Path, dict[str, Any]],
) -> None:
    # Otherwise the tests of the default mode below would prove nothing about it.
    root, manifest = corpus
    plants = [p for p in manifest["plants"] if p["form"] in PREFILTER_UNREPORTED]
    assert plants
    for mode in ("direct", "indirect"):
        config = root / "taskguard-indirect.toml" if mode == "indirect" else None
        policy = load_policy(root, config=config)
        prefilter = Prefilter(policy, graph=policy.indirect)
        for plant in plants:
            module = gen.module_name(plant["path"])
            data = (root / plant["path"]).read_bytes()
            assert not prefilter.needs_parse(data, module, policy.is_protected(module))


@pytest.mark.parametrize(
    ("run", "reference"),
    [
        ("cold", "parse-all"),
        ("cached", "parse-all"),
        ("no-cache", "parse-all-cached"),
        ("indirect", "parse-all-indirect"),
    ],
)
def test_the_default_reports_everything_but_syntax_errors_in_ruled_out_files(
    corpus: tuple[Path, dict[str, Any]], runs: dict[str, dict[str, Any]], run: str, reference: str
) -> None:
    _root, manifest = corpus
    unreported = {
        (p["path"], p["line"], p["code"])
        for p in manifest["plants"]
        if p["form"] in PREFILTER_UNREPORTED
    }
    expected = [
        v
        for v in runs[reference]["violations"]
        if (v["path"], v["line"], v["code"]) not in unreported
    ]
    assert len(expected) == len(runs[reference]["violations"]) - len(unreported)
    assert runs[run]["violations"] == expected
    assert runs[run]["files_checked"] == runs[reference]["files_checked"]


# --------------------------------------------------------------------------- the generator


def _decoded_lines(path: Path) -> list[str]:
    """The file's lines exactly as Python reads them (coding cookie, BOM, any newline)."""
    data = path.read_bytes()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding).removeprefix("\ufeff")
    return text.splitlines()


def test_manifest_lines_are_the_planted_statements(corpus: tuple[Path, dict[str, Any]]) -> None:
    """Every plant's line starts an import statement, a call or an attribute chain, as
    Python parses the file."""
    root, manifest = corpus
    by_path: dict[str, list[dict[str, Any]]] = {}
    for plant in manifest["plants"] + manifest["indirect_plants"]:
        if plant["code"] != "TG900":
            by_path.setdefault(plant["path"], []).append(plant)
    assert len(by_path) >= 15
    for rel, plants in by_path.items():
        path = root / rel
        tree = ast.parse(path.read_bytes())
        starts = {
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom | ast.Call | ast.Attribute)
        }
        lines = _decoded_lines(path)
        for plant in plants:
            assert plant["line"] in starts, (rel, plant)
            assert lines[plant["line"] - 1].strip(), (rel, plant)


def test_corpus_compiles_except_the_unreadable_plants(
    corpus: tuple[Path, dict[str, Any]],
) -> None:
    root, manifest = corpus
    assert gen.verify(root, manifest) == []
    forms = {p["form"] for p in manifest["plants"]}
    # Every form the benchmark promises is planted.
    assert {
        "import",
        "import-as",
        "from-import",
        "from-import-submodule",
        "relative",
        "relative-in-package-init",
        "dunder-import",
        "import-module",
        "import-module-with-package",
        "member",
        "member-attribute",
        "in-function",
        "in-method",
        "in-class-body",
        "in-try",
        "in-if",
        "type-checking-else",
        "exec",
        "eval",
        "compile",
        "dynamic-import-module",
        "nfkc",
        "latin-1-cookie",
        "utf-8-bom",
        "crlf",
        "utf-7-cookie",
        "syntax-error",
        "undecodable",
        "stale-suppression",
        "whitespace-in-dotted-name",
    } <= forms
    control_forms = {c["form"] for c in manifest["controls"]}
    assert {
        "from-import-sibling",
        "member-sibling",
        "type-checking",
        "inline-suppression",
        "near-miss-protected",
        "near-miss-prefix",
        "string-mention",
        "allow-entry",
        "sanctioned-module",
        "excluded-glob",
        "outside-root-packages",
        "skipped-dir",
    } <= control_forms
    assert manifest["modules"] == MODULES


def test_generator_is_deterministic(corpus: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, manifest = corpus
    again = gen.generate(tmp_path / "again", MODULES, SEED)
    assert again == manifest

    def tree(base: Path) -> dict[str, bytes]:
        out = {}
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                path = Path(dirpath) / name
                out[path.relative_to(base).as_posix()] = path.read_bytes()
        return out

    first, second = tree(root), tree(tmp_path / "again")
    first = {k: v for k, v in first.items() if not k.startswith(".taskguard_cache/")}
    assert first == second
    other = gen.generate(tmp_path / "other", MODULES, SEED + 1)
    assert other["plants"] == manifest["plants"]  # plants are fixed; filler varies
    assert tree(tmp_path / "other") != second
