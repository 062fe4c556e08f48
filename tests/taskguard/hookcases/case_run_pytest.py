"""`taskguard run -- python -m pytest` on this interpreter, with filterwarnings = error
(pytest once warned that taskguard, imported by the bootstrap, could not be rewritten), and
a swallowed blocked import in a plain program said on stderr when it happens and at exit.
The session enforces the guard `taskguard run` installed: a test that swallows a blocked
import fails as it does without `taskguard run` (with --import-mode=importlib and
pytest-xdist too)."""

import os
import subprocess
import sys

from _support import ROOT, done, needs, write

needs("pytest")

write(
    {
        "pyproject.toml": """
            [tool.taskguard]
            root-packages = ["app"]
            protected = ["app.api.routers"]
            forbidden-in-protected = ["fakehttp"]

            [tool.pytest.ini_options]
            addopts = ["--strict-markers", "--strict-config", "-p", "no:cacheprovider"]
            filterwarnings = ["error"]
            taskguard_check = false
        """,
        "app/api/routers/__init__.py": """
            def swallow():
                try:
                    import fakehttp
                except ImportError:
                    return "fallback"
        """,
        "tests/test_ok.py": """
            def test_ok():
                assert True
        """,
    }
)
env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
run = [sys.executable, "-m", "taskguard", "run", "--"]
proc = subprocess.run(
    [*run, sys.executable, "-m", "pytest", "-p", "taskguard.pytest_plugin"],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
)
assert proc.returncode == 0, proc.stdout + proc.stderr
assert "1 passed" in proc.stdout, proc.stdout
assert "PytestAssertRewriteWarning" not in proc.stdout + proc.stderr

write(
    {
        "tests/test_swallow.py": """
            def test_swallows():
                from app.api.routers import swallow
                assert swallow() == "fallback"
        """
    }
)
needs("xdist")
plugins = ["-p", "taskguard.pytest_plugin", "-p", "xdist.plugin"]
for extra in ([], ["--import-mode=importlib"], ["-n", "2"]):
    for command in ([], run):
        proc = subprocess.run(
            [*command, sys.executable, "-m", "pytest", *plugins, *extra],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        where = (command, extra, proc.stdout + proc.stderr)
        assert proc.returncode == 1, where
        assert "1 failed, 1 passed" in proc.stdout, where
        assert "FAILED tests/test_swallow.py::test_swallows - taskguard:" in proc.stdout, where
        if command:
            assert "runtime guard on (mode error, installed by the program)" in proc.stdout, where
# --taskguard-mode=off leaves the program's guard installed: the header says so
proc = subprocess.run(
    [*run, sys.executable, "-m", "pytest", *plugins, "--taskguard-mode=off"],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
)
assert proc.returncode == 0, proc.stdout + proc.stderr
assert (
    "taskguard: runtime guard off in this session; the program's guard is installed (mode error)"
    in proc.stdout
), proc.stdout
(ROOT / "tests" / "test_swallow.py").unlink()

code = "import app.api.routers as r\nfor _ in range(2):\n    print(r.swallow())\n"
proc = subprocess.run(
    [*run, sys.executable, "-c", code],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
)
assert proc.returncode == 0, proc.stderr
assert proc.stdout == "fallback\nfallback\n", proc.stdout
line = "TG002 app.api.routers imports fakehttp at "
lines = proc.stderr.splitlines()
assert len(lines) == 3, proc.stderr
assert lines[0].startswith(f"taskguard: blocked import: {line}"), lines
assert lines[1].startswith("taskguard: 1 forbidden import(s) were blocked"), lines
assert lines[2].startswith(f"taskguard:   {line}"), lines
done()
