"""Runtime guard cases. Each case in hookcases/ runs in a fresh interpreter, on every
CPython 3.10-3.13 present (the running one, else ~/.pyenv/versions/<x.y>.*); an absent
version is skipped and the skip says so.

Cases of one version run two at a time in the background as soon as the first of them is
needed; each test then waits for its own case.

An interpreter other than the running one gets the third-party packages the cases use
(taskguard's runtime dependencies for that version, and coverage) installed by its own pip
into a directory cached across runs, keyed by the interpreter and the requirements: a
fresh clone needs the package index once. Without it, the cases that need a package fail
with pip's error (``TASKGUARD_TESTS_OFFLINE=1`` turns that into a skip).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
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
# What the cases import beyond the standard library and taskguard: taskguard's runtime
# dependencies (pyproject.toml), coverage (case_coverage), pytest and pytest-xdist
# (case_pytest), typeguard and beartype (case_other_hooks), django and pytest-django
# (case_pytest_django), for interpreters other than the running one (whose venv has them all).
REQUIREMENTS = (
    "structlog>=23.1",
    "coverage>=7.4",
    "pytest>=8.0",
    "pytest-xdist>=3.5",
    "typeguard>=4.3",
    "beartype>=0.18",
    "django>=4.2",
    "pytest-django>=4.8",
)
REQUIREMENTS_BEFORE_311 = ("tomli>=2.0",)
OFFLINE = os.environ.get("TASKGUARD_TESTS_OFFLINE", "") not in ("", "0")


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
    deps_error: str | None = None


def requirements(version: str) -> tuple[str, ...]:
    before_311 = tuple(int(part) for part in version.split(".")) < (3, 11)
    return REQUIREMENTS + (REQUIREMENTS_BEFORE_311 if before_311 else ())


class Dependencies:
    """The cases' third-party packages for one interpreter, installed once into a cache."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        self._done: dict[str, tuple[Path | None, str | None]] = {}

    def path(self, python: str, version: str) -> tuple[Path | None, str | None]:
        """The directory to put on the interpreter's path, or the reason there is none."""
        with self._lock:  # one install per interpreter; cases of other versions wait briefly
            if python not in self._done:
                self._done[python] = self._install(python, version)
            return self._done[python]

    def _install(self, python: str, version: str) -> tuple[Path | None, str | None]:
        wanted = requirements(version)
        real = os.path.realpath(python)
        key = hashlib.sha256("\n".join((real, *wanted)).encode()).hexdigest()[:16]
        target = self.cache / f"{version}-{key}"
        if (target / ".complete").is_file():
            return target, None
        if OFFLINE:
            return None, "TASKGUARD_TESTS_OFFLINE is set: nothing is installed"
        staging = self.cache / f".{target.name}.{os.getpid()}.{threading.get_ident()}"
        shutil.rmtree(staging, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(PIP_REQUIRE_VIRTUALENV="0", PIP_ROOT_USER_ACTION="ignore")
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        proc = subprocess.run(
            [*pip, "--no-warn-script-location", "--target", str(staging), *wanted],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return None, f"`{python} -m pip install {' '.join(wanted)}` failed: {' / '.join(tail)}"
        (staging / ".complete").write_text("\n".join(wanted) + "\n")
        try:
            staging.rename(target)
        except OSError:  # another session installed it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
        return target, None


class CaseRunner:
    def __init__(self, base: Path, wanted: set[tuple[str, str]], deps: Dependencies) -> None:
        self.base = base
        self.wanted = wanted
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hookcase")
        self.futures: dict[tuple[str, str], Future[Outcome]] = {}
        self.deps = deps

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
        deps_error = None
        if python != sys.executable:
            deps, deps_error = self.deps.path(python, version)
            if deps is not None:
                path.append(str(deps))
        # Bytecode is written (next to the sources, as usual): recompiling taskguard in
        # every fresh interpreter would cost more than most cases.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        if deps_error is not None:
            env["TASKGUARD_CASE_DEPS_MISSING"] = deps_error  # read by _support.needs()
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
        return Outcome(proc.returncode, proc.stdout, proc.stderr, deps_error)

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
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        deps_cache = cache.mkdir("taskguard-hookcase-deps")
    else:  # -p no:cacheprovider: this session's temporary directory
        deps_cache = tmp_path_factory.mktemp("hookcase-deps")
    runner = CaseRunner(tmp_path_factory.mktemp("hookcases"), wanted, Dependencies(deps_cache))
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
        reason = f"{case} on {version}: {skipped.group(1)}"
        if outcome.deps_error is not None:
            # The case lacked a package this run was supposed to provide.
            reason += f"; its packages could not be installed: {outcome.deps_error}"
            if not OFFLINE:
                pytest.fail(reason)
        pytest.skip(reason)
    assert outcome.returncode == 0, report
    major, minor = version.split(".")
    assert f"CASE-OK ({major}, {minor})" in outcome.stdout, report


def test_hook_cases_exist_and_some_interpreter_runs_them() -> None:
    # An all-skipped matrix must not pass silently.
    assert len(CASES) >= 20, CASES
    assert any(INTERPRETERS.values()), f"no CPython {VERSIONS} found; looked under {PYENV_VERSIONS}"
