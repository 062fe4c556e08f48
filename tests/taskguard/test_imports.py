"""``taskguard._imports``: the import rules the checker and the guard share, compared with
what CPython's import system does on every 3.10-3.13 present (each in its own interpreter)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from taskguard._imports import (
    calc_package,
    could_be_refused,
    heads,
    import_candidates,
    pattern_could_be_refused,
    refusable_heads,
    resolve_import_module,
    resolve_relative,
)
from taskguard._policy import Policy
from tests.taskguard.test_hook_cases import INTERPRETERS, REPO, VERSIONS

# Run by each interpreter: our answer next to the import system's, for every input.
DIFFERENTIAL = textwrap.dedent(
    """
    import importlib, importlib.machinery, importlib.util, json, sys, warnings
    from taskguard._imports import calc_package, resolve_import_module, resolve_relative

    bootstrap = importlib._bootstrap
    mismatches = []

    class Recorder:
        # First on sys.meta_path: every name the import system asks for (parents first),
        # each found as an empty namespace package.
        def __init__(self):
            self.asked = []

        def find_spec(self, name, path=None, target=None):
            self.asked.append(name)
            return importlib.machinery.ModuleSpec(name, None, is_package=True)

    def real_import_module(name, package):
        recorder = Recorder()
        sys.meta_path.insert(0, recorder)
        try:
            module = importlib.import_module(name, package)
        except (ImportError, TypeError, ValueError):
            return None
        finally:
            del sys.meta_path[0]
            for asked in recorder.asked:
                sys.modules.pop(asked, None)
        return module.__name__

    names = ["x", "x.y", "", ".", "..", "...", ".x", "..x", "...x", ".x.y", "..x.y", "....x"]
    packages = [None, "", "a", "a.b", "a.b.c", "a.b.c.d"]
    for name in names:
        for package in packages:
            ours = resolve_import_module(name, package)
            theirs = real_import_module(name, package)
            if ours != theirs:
                mismatches.append(["import_module", name, package, ours, theirs])
    for name in ["", "x", "x.y"]:
        for package in packages[1:]:
            for level in range(0, 5):
                try:  # what _gcd_import does: the sanity check, then the resolution
                    bootstrap._sanity_check(name or "x", package, level)
                    theirs = bootstrap._resolve_name(name, package, level) if level else name
                except ImportError:
                    theirs = None
                try:
                    ours = resolve_relative(name, package, level)
                except ImportError:
                    ours = None
                if ours != theirs:
                    mismatches.append(["resolve_relative", name, package, level, ours, theirs])
    spec = importlib.util.spec_from_loader("s.t.u", loader=None)
    # (globals without __name__ make the import system raise KeyError itself: not compared)
    cases = [
        {"__name__": "a.b"},
        {"__name__": "a.b", "__path__": []},
        {"__name__": "a.b", "__package__": "x.y"},
        {"__name__": "a.b", "__package__": ""},
        {"__name__": "a.b", "__spec__": spec},
        {"__name__": "a.b", "__package__": "p", "__spec__": spec},
        {"__name__": "top"},
    ]
    for globals_ in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                theirs = bootstrap._calc___package__(globals_)
            except KeyError:
                theirs = "KeyError"
        if theirs is None:
            theirs = ""
        try:
            ours = calc_package(globals_)
        except KeyError:
            ours = "KeyError"
        if ours != theirs:
            mismatches.append(["calc_package", repr(globals_), ours, theirs])
    print(json.dumps(mismatches))
    """
)


@pytest.mark.parametrize("version", VERSIONS)
def test_matches_the_import_system(version: str, tmp_path: Path) -> None:
    python = INTERPRETERS[version]
    if python is None:
        pytest.skip(f"CPython {version} is not installed")
    proc = subprocess.run(
        [python, "-c", DIFFERENTIAL],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    mismatches = json.loads(proc.stdout)
    assert mismatches == [], "\n".join(map(repr, mismatches))


def test_resolve_relative() -> None:
    assert resolve_relative("x", "a.b.c", 1) == "a.b.c.x"
    assert resolve_relative("x", "a.b.c", 3) == "a.x"
    assert resolve_relative("", "a.b", 2) == "a"
    assert resolve_relative("x.y", "", 0) == "x.y"
    for package, level in (("a", 2), ("", 1)):
        with pytest.raises(ImportError, match="beyond top-level package"):
            resolve_relative("x", package, level)


def test_resolve_import_module() -> None:
    assert resolve_import_module("httpx", None) == "httpx"
    assert resolve_import_module("..x", "a.b.c") == "a.b.x"
    assert resolve_import_module(".x", None) is None
    assert resolve_import_module("...x", "a.b") is None


def test_calc_package_reads_str_subclasses_as_what_they_hold() -> None:
    class Lying(str):
        def __str__(self) -> str:
            return "somewhere.else"

    assert calc_package({"__package__": Lying("a.b")}) == "a.b"
    assert calc_package({"__name__": Lying("a.b")}) == "a"
    assert calc_package(None) == ""


def test_import_candidates() -> None:
    assert import_candidates("google.cloud", ["tasks_v2", "*"]) == [
        "google.cloud",
        "google.cloud.tasks_v2",
    ]
    assert import_candidates("json") == ["json"]


POLICY = Policy(
    root_packages=("app",),
    dispatch_modules=("google.cloud.tasks_v2",),
    protected=("app.api",),
    forbidden_in_protected=("httpx", "concurrent.futures.ProcessPoolExecutor"),
)


def test_could_be_refused() -> None:
    assert could_be_refused(POLICY, "httpx")
    assert could_be_refused(POLICY, "httpx._client")
    assert could_be_refused(POLICY, "google.cloud.tasks_v2")
    assert could_be_refused(POLICY, "concurrent.futures.ProcessPoolExecutor")
    assert not could_be_refused(POLICY, "concurrent.futures")
    assert not could_be_refused(POLICY, "google.cloud")
    assert not could_be_refused(POLICY, "httpx_helpers")
    assert refusable_heads(POLICY) == frozenset({"google", "httpx", "concurrent"})
    assert heads(["**.tasks", "x"]) is None


def test_pattern_could_be_refused() -> None:
    assert pattern_could_be_refused(POLICY, "httpx")
    assert pattern_could_be_refused(POLICY, "httpx.sub")
    assert pattern_could_be_refused(POLICY, "google")  # the target lies inside it
    assert pattern_could_be_refused(POLICY, "google.*.tasks_v2")
    assert not pattern_could_be_refused(POLICY, "requests")
    assert not pattern_could_be_refused(POLICY, "concurrent.futures.ThreadPoolExecutor")
