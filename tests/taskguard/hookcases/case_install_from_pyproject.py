# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""install() with no policy reads the nearest pyproject.toml; its mode is the default."""

import os
import sys

from _support import ROOT, blocked, done, needs, write

from taskguard import install

if sys.version_info < (3, 11):
    needs("tomli")  # reading pyproject.toml needs it before 3.11

write(
    {
        "pyproject.toml": """
            [tool.taskguard]
            root-packages = ["app"]
            protected = ["app.worker"]
            forbidden-in-protected = ["fakehttp"]
            mode = "warn"
        """,
        "app/worker/jobs.py": "def run():\n    import fakehttp\n",
        "app/api/routers/free.py": "def run():\n    import fakehttp\n    return fakehttp\n",
    }
)
os.chdir(ROOT / "app")  # the nearest pyproject.toml is found above
guard = install(mode="error")
assert guard.policy.source == ROOT / "pyproject.toml"
assert guard.policy.protected == ("app.worker",)
assert guard.mode == "error"  # an explicit mode wins over the policy's
from app.api.routers import free
from app.worker import jobs

assert blocked(jobs.run).importer == "app.worker.jobs"
assert free.run().NAME == "fakehttp"  # not protected by this policy
guard.uninstall()
assert install().mode == "warn"
done()
