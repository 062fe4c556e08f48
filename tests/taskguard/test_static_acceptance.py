"""Acceptance of issue #12 as a user (or someone trying to slip past the checker) probes it:
inputs found by the audit that the other suites did not cover."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _check_support import found, run_cli, write_project

from taskguard import check

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.worker.tasks"]
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_a_fifo_named_like_a_module_is_tg900_and_never_hangs(tmp_path: Path, fmt: str) -> None:
    # Opening a named pipe for reading blocks until a writer comes: nobody ever does.
    write_project(tmp_path, {"app/worker/tasks/m.py": "import httpx\n"}, TABLE)
    os.mkfifo(tmp_path / "app" / "worker" / "tasks" / "pipe.py")
    for args in ([], ["--parse-all"]):
        result = run_cli(["check", "--no-cache", "--format", fmt, *args], tmp_path)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert "pipe.py" in result.stdout
        if fmt == "json":
            violations = json.loads(result.stdout)["violations"]
            assert [(v["path"], v["code"]) for v in violations] == [
                ("app/worker/tasks/m.py", "TG002"),
                ("app/worker/tasks/pipe.py", "TG900"),
            ]
            assert "not a regular file" in violations[1]["message"]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_named_like_a_module_is_tg900_not_an_endless_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(tmp_path, {"app/worker/tasks/m.py": "x = 1\n"}, TABLE)
    os.symlink("/dev/zero", tmp_path / "app" / "worker" / "tasks" / "zero.py")
    monkeypatch.chdir(tmp_path)
    result = check(["app"], use_cache=False)
    assert found(result) == [("app/worker/tasks/zero.py", 1, "TG900", None)]
