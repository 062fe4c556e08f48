"""The pytest plugin on this interpreter: pytest-xdist workers (-n 2) with
--import-mode=importlib; raised and swallowed violations fail the right tests, a
first-party test module is guarded, and the controller's summary has the workers' findings.
(tests/taskguard/test_plugin.py covers the plugin in depth on the running interpreter.)"""

import os
import subprocess
import sys

from _support import ROOT, done, needs, write

needs("pytest")
needs("xdist")

write(
    {
        "pyproject.toml": """
            [tool.taskguard]
            root-packages = ["app"]
            sanctioned = ["app.infrastructure.tasks_client"]
            dispatch-modules = ["fakecloud.tasks"]
            protected = ["app.api.routers"]
            forbidden-in-protected = ["fakehttp"]

            [tool.pytest.ini_options]
            addopts = ["--strict-markers", "--strict-config", "-p", "no:cacheprovider"]
            testpaths = ["tests", "app"]
            filterwarnings = ["error"]
            taskguard_check = false
        """,
        "app/api/routers/__init__.py": """
            def lazy():
                import fakehttp

            def swallow():
                try:
                    from fakecloud import tasks
                except ImportError:
                    return "fallback"
        """,
        "app/api/routers/test_inside.py": """
            def test_inside_is_guarded():
                assert type(__builtins__).__name__ == "_GuardedBuiltins"
        """,
        "tests/test_a.py": """
            import app.api.routers as routers

            def test_raised():
                routers.lazy()

            def test_clean():
                pass
        """,
        "tests/test_b.py": """
            import app.api.routers as routers

            def test_swallowed():
                assert routers.swallow() == "fallback"
        """,
    }
)
env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # the same plugins everywhere
plugins = ["-p", "taskguard.pytest_plugin", "-p", "xdist.plugin"]
proc = subprocess.run(
    [sys.executable, "-m", "pytest", *plugins, "-n", "2", "--import-mode=importlib", "-rA"],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
)
out = proc.stdout
assert proc.returncode == 1, out + proc.stderr
for line in (
    "PASSED tests/test_a.py::test_clean",
    "PASSED app/api/routers/test_inside.py::test_inside_is_guarded",
    "FAILED tests/test_a.py::test_raised",
    "FAILED tests/test_b.py::test_swallowed",
    "ForbiddenImportError: TG002: app.api.routers may not import fakehttp at ",
    "taskguard: forbidden import during call, swallowed before it reached this test:",
    "taskguard: runtime guard on (mode error), enforcing 1 protected pattern and 1 "
    "dispatch-module pattern",
    "= taskguard: 2 forbidden imports (mode error) =",
):
    assert line in out, (line, out)
assert "TG001 app.api.routers imports fakecloud.tasks at " in out, out
assert "[tests/test_b.py::test_swallowed]" in out, out
done()
