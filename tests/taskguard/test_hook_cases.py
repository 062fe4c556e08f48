"""Runtime guard cases. Each case in hookcases/ runs in a fresh interpreter, on every
CPython 3.10-3.13 present (the running one, else ~/.pyenv/versions/<x.y>.*); an absent
version is skipped and the skip says so.

Cases of one version run two at a time in the background as soon as the first of them is
needed; each test then waits for its own case.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import taskguard

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "hookcases"
CASES = sorted(p.name for p in CASES_DIR.glob("case_*.py"))
REPO = Path(taskguard.__file__).resolve().parents[1]
VERSIONS = ("3.10", "3.11", "3.12", "3.13")
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
# Pure-Python packages some cases use, lent to interpreters that lack them.
LENT = ("structlog", "typing_extensions", "coverage")


def _patch_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parents[1].name))


def find_interpreter(version: str) -> str | None:
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    found = [
        p
        for p in PYENV_VERSIONS.glob(f"{version}.*/bin/python{version}")
        if re.fullmatch(rf"{re.escape(version)}\.\d+", p.parents[1].name)
    ]
    return str(max(found, key=_patch_key)) if found else None


INTERPRETERS = {version: find_interpreter(version) for version in VERSIONS}


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


class CaseRunner:
    def __init__(self, base: Path, wanted: set[tuple[str, str]]) -> None:
        self.base = base
        self.wanted = wanted
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hookcase")
        self.futures: dict[tuple[str, str], Future[Outcome]] = {}
        self.deps = self._lend()

    def _lend(self) -> Path:
        deps = self.base / "deps"
        deps.mkdir()
        for name in LENT:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                continue
            origin = Path(spec.origin)
            source = origin.parent if origin.name == "__init__.py" else origin
            (deps / source.name).symlink_to(source)
        return deps

    def outcome(self, version: str, case: str) -> Outcome:
        if (version, case) not in self.futures:
            for wanted_version, wanted_case in sorted(self.wanted | {(version, case)}):
                if wanted_version == version:
                    key = (version, wanted_case)
                    self.futures.setdefault(key, self.pool.submit(self._run, *key))
        return self.futures[(version, case)].result()

    def _run(self, version: str, case: str) -> Outcome:
        python = INTERPRETERS[version]
        assert python is not None
        workdir = self.base / f"{version}-{case[:-3]}"
        workdir.mkdir()
        path = [str(CASES_DIR), str(REPO)]
        if python != sys.executable:
            path.append(str(self.deps))
        # Bytecode is written (next to the sources, as usual): recompiling taskguard in
        # every fresh interpreter would cost more than most cases.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("PYTHONPYCACHEPREFIX", None)
        env.pop("PYTHONSTARTUP", None)
        proc = subprocess.run(
            [python, str(CASES_DIR / case)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        return Outcome(proc.returncode, proc.stdout, proc.stderr)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def case_runner(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CaseRunner]:
    wanted = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.name.startswith("test_hook_case[") and callspec is not None:
            wanted.add((callspec.params["version"], callspec.params["case"]))
    runner = CaseRunner(tmp_path_factory.mktemp("hookcases"), wanted)
    yield runner
    runner.close()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_hook_case(case: str, version: str, case_runner: CaseRunner) -> None:
    if INTERPRETERS[version] is None:
        pytest.skip(f"CPython {version} is not installed (looked under {PYENV_VERSIONS})")
    outcome = case_runner.outcome(version, case)
    report = (
        f"exit {outcome.returncode}\n--- stdout\n{outcome.stdout}\n--- stderr\n{outcome.stderr}"
    )
    skipped = re.search(r"^CASE-SKIP (.*)$", outcome.stdout, re.M)
    if outcome.returncode == 0 and skipped:
        pytest.skip(f"{case} on {version}: {skipped.group(1)}")
    assert outcome.returncode == 0, report
    major, minor = version.split(".")
    assert f"CASE-OK ({major}, {minor})" in outcome.stdout, report


def test_hook_cases_exist_and_some_interpreter_runs_them() -> None:
    # An all-skipped matrix must not pass silently.
    assert len(CASES) >= 20, CASES
    assert any(INTERPRETERS.values()), f"no CPython {VERSIONS} found; looked under {PYENV_VERSIONS}"
