"""`taskguard run -- python -m pytest` on this interpreter, with filterwarnings = error
(pytest once warned that taskguard, imported by the bootstrap, could not be rewritten), and
a swallowed blocked import in a plain program said on stderr when it happens and at exit."""

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
