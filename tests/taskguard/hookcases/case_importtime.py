"""python -X importtime reports guarded imports, and the guard still blocks."""

import subprocess
import sys

from _support import ROOT, done, write

write(
    {
        "timed_main.py": """
            from _support import POLICY
            from taskguard import install
            install(POLICY)
            import app.api.routers.timed as timed
            try:
                timed.lazy()
            except ImportError as exc:
                print("blocked", type(exc).__name__)
        """,
        "app/api/routers/timed.py": "import json\n\ndef lazy():\n    import fakehttp\n",
    }
)
proc = subprocess.run(
    [sys.executable, "-X", "importtime", "timed_main.py"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=60,
    check=False,
)
assert proc.returncode == 0, proc.stderr
assert "blocked ForbiddenImportError" in proc.stdout, proc.stdout
timed = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
assert any(line.rstrip().endswith("app.api.routers.timed") for line in timed), proc.stderr
done()
