"""`taskguard run`, through the installed console script, on a project in a temp directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from taskguard._hook import _dash_m_module

SCRIPT = shutil.which("taskguard", path=str(Path(sys.executable).parent))
PY = sys.executable

PYPROJECT = """
[tool.taskguard]
root-packages = ["app"]
protected = ["app.api.routers", "app.worker"]
forbidden-in-protected = ["fakehttp"]
"""

FILES = {
    "app/__init__.py": "",
    "app/api/__init__.py": "",
    "app/api/routers/__init__.py": """
        def clean():
            import json
            return json.dumps([1])

        def lazy():
            import fakehttp
    """,
    "app/services/__init__.py": "",
    "app/services/loader.py": "import fakehttp\n",
    "app/worker/__init__.py": "",
    "app/worker/tasks.py": """
        import sys

        def job():
            import fakehttp

        if __name__ == "__main__":
            import app.services.loader  # unprotected: fakehttp is loaded from here on
            print("main builtins:", type(__builtins__).__name__, flush=True)
            job()
    """,
    "fakehttp/__init__.py": "",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert SCRIPT is not None, "the taskguard console script is not installed"
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    for rel, text in FILES.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # no recompiling per run
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    return tmp_path


def taskguard_run(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None
    return subprocess.run(
        [SCRIPT, "run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


CHILD = (
    "import subprocess, sys\n"
    "import app.api.routers as routers\n"
    "print('parent', routers.clean(), flush=True)\n"
    "code = subprocess.call([sys.executable, '-c', "
    "'import app.api.routers as r; print(\"child\", r.clean(), flush=True); r.lazy()'])\n"
    "sys.exit(code)\n"
)


def test_guard_in_the_command_and_its_children(project: Path) -> None:
    proc = taskguard_run("--", PY, "-c", CHILD)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == ["parent [1]", "child [1]"]
    assert "Traceback (most recent call last):" in proc.stderr
    assert (
        "taskguard._errors.ForbiddenImportError: TG002: app.api.routers may not import fakehttp "
        f"at {project / 'app/api/routers/__init__.py'}:6; dispatch background work with "
        "dispatch.enqueue_http_task() instead"
    ) in proc.stderr


def test_python_dash_m_main_is_guarded(project: Path) -> None:
    proc = taskguard_run("--", PY, "-m", "app.worker.tasks")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "main builtins: _GuardedBuiltins\n"
    assert "TG002: app.worker.tasks may not import fakehttp" in proc.stderr
    assert f"{project / 'app/worker/tasks.py'}:4;" in proc.stderr

    unguarded = subprocess.run(
        [PY, "-m", "app.worker.tasks"], capture_output=True, text=True, timeout=60, check=False
    )
    assert unguarded.returncode == 0, unguarded.stderr
    assert unguarded.stdout == "main builtins: module\n"


def test_warn_mode_logs_and_lets_the_import_happen(project: Path) -> None:
    proc = taskguard_run("--mode", "warn", "--", PY, "-c", CHILD)
    assert proc.returncode == 0, proc.stderr
    assert "taskguard.forbidden_import" in proc.stdout + proc.stderr
    assert "ForbiddenImportError" not in proc.stderr


def test_exit_status_passes_through(project: Path) -> None:
    assert taskguard_run("--", PY, "-c", "raise SystemExit(7)").returncode == 7
    killed = taskguard_run("--", PY, "-c", "import os, signal; os.kill(os.getpid(), 15)")
    assert killed.returncode == 128 + 15
    missing = taskguard_run("--", "no-such-command-anywhere")
    assert missing.returncode == 127
    assert "command not found: no-such-command-anywhere" in missing.stderr


def test_chains_to_an_existing_sitecustomize(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("othersite")
    (other / "sitecustomize.py").write_text("import os\nos.environ['CHAINED'] = 'yes'\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(other)])}
    code = (
        "import os, sys\n"
        "from taskguard._hook import active_guard\n"
        "print(os.environ.get('CHAINED'), active_guard() is not None, "
        "sys.modules['sitecustomize'].__file__)\n"
    )
    proc = taskguard_run("--", PY, "-c", code, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"yes True {other / 'sitecustomize.py'}"


def test_a_bad_policy_fails_closed(project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT + 'protectd = ["app"]\n')
    proc = taskguard_run("--", PY, "-c", "print('ran')")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "protectd: unknown key; did you mean 'protected'?" in proc.stderr

    # a process of the tree that cannot load the policy stops instead of running unguarded
    bootstrap = Path(__import__("taskguard").__file__).parent / "_bootstrap"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(bootstrap), str(project)]),
        "TASKGUARD_ROOT": str(project),
    }
    proc = subprocess.run(
        [PY, "-c", "print('ran')"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "taskguard: cannot install the runtime guard:" in proc.stderr


def test_inherited_descriptors_reach_the_command(project: Path) -> None:
    # Regression: the command was started with close_fds=True.
    assert SCRIPT is not None
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.run(
            [SCRIPT, "run", "--", PY, "-c", f"import os; os.write({write_end}, b'reached')"],
            pass_fds=[write_end],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(write_end)
        write_end = -1
        assert proc.returncode == 0, proc.stderr
        assert os.read(read_end, 100) == b"reached"
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)


def test_no_command_is_a_usage_error(project: Path) -> None:
    proc = taskguard_run()
    assert proc.returncode == 2
    assert "run needs a command" in proc.stderr


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["python", "-m", "app.worker"], "app.worker"),
        (["python", "-mapp.worker"], "app.worker"),
        (["python", "-B", "-X", "importtime", "-W", "error", "-m", "app.x", "--flag"], "app.x"),
        (["python", "-Ximporttime", "-Werror", "-Bm", "app.y"], "app.y"),
        (["python", "--check-hash-based-pycs", "always", "-m", "app.z"], "app.z"),
        (["python", "script.py", "-m", "app.x"], None),
        (["python", "-c", "pass", "-m", "app.x"], None),
        (["python", "-Bc", "pass"], None),
        (["python", "-"], None),
        (["python"], None),
        (["python", "-m"], None),
    ],
)
def test_dash_m_module(argv: list[str], module: str | None) -> None:
    assert _dash_m_module(argv) == module
