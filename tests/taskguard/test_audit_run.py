"""Issue #11, part 4, as a demanding user: ``taskguard run`` (the console script) in the
shapes programs really have. A program running with ``sys.stderr`` set to ``None``
(pythonw, a daemon) or closed keeps working, and the violation is still said on file
descriptor 2; the command line's edge cases reach the interpreter unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _hook_support import NO_EXEC_LOADER

from tests.taskguard.test_run import PY, SWALLOW, project, taskguard_run

__all__ = ["project"]  # the fixture, used by name

WHERE = "app/api/routers/__init__.py"


@pytest.mark.parametrize("mode", ["error", "warn"])
@pytest.mark.parametrize(
    "lose_stderr",
    ["sys.stderr = None", "sys.stderr.close()", "sys.stderr = sys.__stderr__ = None"],
)
def test_a_program_without_stderr_keeps_running(project: Path, mode: str, lose_stderr: str) -> None:
    # Regression: the report raised AttributeError ('NoneType' has no attribute 'write')
    # from inside the import: the program's `except ImportError` did not catch it, and it
    # died with exit 1 and no word (its traceback had no stderr either).
    code = f"import sys\n{lose_stderr}\n{SWALLOW}"
    proc = taskguard_run("--mode", mode, "--", PY, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "swallowed\n"  # the program's output stays its own
    line = f"TG002 app.api.routers imports fakehttp at {project / WHERE}:6"
    if mode == "error":
        assert proc.stderr.count(f"taskguard: blocked import: {line}") == 1, proc.stderr
        assert proc.stderr.count(f"taskguard:   {line}") == 1, proc.stderr
    else:
        assert proc.stderr.count("taskguard.forbidden_import") == 1, proc.stderr
        assert "imported='fakehttp'" in proc.stderr or "imported=fakehttp" in proc.stderr


@pytest.mark.parametrize(
    "options",
    [
        ("-W", "error"),
        ("-X", "dev"),
        ("-Wdefault", "-Xdev"),
        ("--check-hash-based-pycs", "always"),
        ("-W", "-I"),  # -W takes "-I" as its (invalid) value: not isolated mode
        ("-X", "-E"),
        ("-bb", "-u", "-B"),
        ("-OO",),
    ],
)
def test_interpreter_options_keep_the_guard(project: Path, options: tuple[str, ...]) -> None:
    proc = taskguard_run("--", PY, *options, "-c", SWALLOW + "import sys; sys.exit(7)\n")
    assert proc.returncode == 7, proc.stderr
    assert "swallowed" in proc.stdout
    assert "taskguard: blocked import: TG002" in proc.stderr, proc.stderr


@pytest.mark.parametrize("flag", ["-I", "-E", "-S", "-Ic", "-sE", "-IS"])
def test_isolating_flags_are_refused_wherever_they_are_grouped(project: Path, flag: str) -> None:
    args = (flag, "print(1)") if flag.endswith("c") else (flag, "-c", "print(1)")
    proc = taskguard_run("--", PY, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "unguarded" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "tail", [("-c", "print('ran')", "-I"), ("-m", "app.echo", "-E"), ("--", "echo.py", "-S")]
)
def test_flags_after_the_program_are_its_arguments(project: Path, tail: tuple[str, ...]) -> None:
    (project / "app/echo.py").write_text("print('ran')\n")
    (project / "echo.py").write_text("print('ran')\n")
    proc = taskguard_run("--", PY, *tail)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran\n"


@pytest.mark.parametrize(("signal_code", "status"), [("9", 137), ("15", 143), ("6", 134)])
def test_death_by_signal_is_128_plus_n(project: Path, signal_code: str, status: int) -> None:
    code = f"import os\nos.kill(os.getpid(), {signal_code})\n"
    proc = taskguard_run("--", PY, "-c", code)
    assert proc.returncode == status, proc.stderr


NO_EXEC_HOOK = (
    "import importlib.machinery, importlib.util, sys, types\n"
    + NO_EXEC_LOADER
    + """

class NoExecFinder:
    def find_spec(self, name, path=None, target=None):
        if name != "app.api.routers":
            return None
        found = importlib.machinery.PathFinder.find_spec(name, path)
        return importlib.util.spec_from_file_location(
            name, found.origin, loader=NoExecLoader(found.origin),
            submodule_search_locations=found.submodule_search_locations,
        )

class LegacyNoExecLoader:
    # the legacy protocol only (no exec_module), and no exec either
    def __init__(self, path):
        self.path = path
    def load_module(self, fullname):
        module = types.ModuleType(fullname)
        module.__file__ = self.path
        sys.modules[fullname] = module
        NoExecLoader(self.path).exec_module(module)
        return module

class LegacyNoExecFinder(NoExecFinder):
    def find_spec(self, name, path=None, target=None):
        spec = super().find_spec(name, path, target)
        if spec is not None:
            spec.loader = LegacyNoExecLoader(spec.origin)
        return spec

class CopyExecLoader(NoExecLoader):
    def exec_module(self, module):  # exec into a copy, then copied back
        namespace = dict(module.__dict__)
        with open(self.path, encoding="utf-8") as fh:
            exec(compile(fh.read(), self.path, "exec"), namespace)
        module.__dict__.update(namespace)

class CopyExecFinder(NoExecFinder):
    def find_spec(self, name, path=None, target=None):
        spec = super().find_spec(name, path, target)
        if spec is not None:
            spec.loader = CopyExecLoader(spec.origin)
        return spec

import warnings
warnings.simplefilter("ignore", ImportWarning)  # 3.12+: falling back to load_module()
sys.meta_path.insert(0, FINDER())
import fakehttp  # loaded: only the module's own builtins could refuse it
import app.api.routers as routers
routers.lazy()
print("imported", flush=True)
"""
)


@pytest.mark.parametrize("finder", ["NoExecFinder", "LegacyNoExecFinder", "CopyExecFinder"])
@pytest.mark.parametrize("mode", ["error", "warn"])
def test_a_module_the_guard_could_not_see_is_named_at_exit(
    project: Path, mode: str, finder: str
) -> None:
    # The documented limit (a loader in front of the guard that never calls exec, with
    # exec_module() or only the legacy load_module()) is not silent: the process names
    # the module at exit.
    code = f"FINDER = lambda: {finder}()\n{NO_EXEC_HOOK}"
    proc = taskguard_run("--mode", mode, "--", PY, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "imported\n"
    assert proc.stderr.count("ran without the guard's builtins") == 1, proc.stderr
    assert proc.stderr.rstrip().endswith("were not checked: app.api.routers"), proc.stderr

    clean = taskguard_run("--mode", mode, "--", PY, "-c", "import app.api.routers")
    assert clean.returncode == 0, clean.stderr
    assert clean.stderr == ""


PYTEST_SUITE = """
import pytest
from taskguard import ForbiddenImportError
import app.api.routers as routers

def test_clean():
    assert routers.clean() == '[1]'

def test_blocked():
    with pytest.raises(ForbiddenImportError):
        routers.lazy()

def test_swallowed():
    from app.api.routers import quiet
    assert quiet.swallow() == "fallback"  # the application swallows it, not the test
"""
QUIET = """
def swallow():
    try:
        import fakehttp
    except ImportError:
        return "fallback"
    return "imported"
"""


@pytest.mark.parametrize(
    ("python_options", "pytest_options", "environment"),
    [
        ((), ("--import-mode=importlib",), {}),
        ((), ("--import-mode=append",), {}),
        ((), (), {"PYTHONWARNINGS": "error"}),
        (("-W", "error"), (), {}),
        (("-X", "dev"), ("-W", "error"), {}),
        ((), ("-p", "no:cacheprovider", "--strict-markers", "--strict-config"), {}),
        ((), ("-o", "cache_dir=.elsewhere"), {}),
        ((), ("--assert=plain",), {}),
    ],
)
def test_pytest_under_taskguard_run_with_every_setting(
    project: Path,
    python_options: tuple[str, ...],
    pytest_options: tuple[str, ...],
    environment: dict[str, str],
) -> None:
    with (project / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n')
    (project / "test_app.py").write_text(PYTEST_SUITE)
    (project / "app/api/routers/quiet.py").write_text(QUIET)
    env = {**os.environ, **environment}
    command = (PY, *python_options, "-m", "pytest", "-q", "-k", "not taskguard")
    proc = taskguard_run("--", *command, *pytest_options, env=env)
    output = proc.stdout + proc.stderr
    # the swallowed violation fails its test, as without taskguard run; nothing else fails
    assert proc.returncode == 1, output
    assert "1 failed, 2 passed" in proc.stdout, output
    assert "FAILED test_app.py::test_swallowed" in proc.stdout, output
    assert "Warning" not in output.replace("UnguardedModuleWarning", ""), output
