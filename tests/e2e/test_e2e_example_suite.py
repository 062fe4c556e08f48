"""The example's own test suite, run as its users run it: pytest with the taskguard plugin."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from e2e_support import add_forbidden_import

from examples._stack import Proc, Processes, clean_env, copy_example


def _pytest(procs: Processes, name: str, tree: Path, *args: str) -> Proc:
    argv = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"]
    return procs.start(name, [*argv, "--taskguard-mode=error", *args], env=clean_env(), cwd=tree)


def test_the_example_suite_runs_guarded_and_fails_once_a_router_imports_httpx(
    tmp_path: Path, procs: Processes
) -> None:
    clean = copy_example(tmp_path / "clean")
    edited = copy_example(tmp_path / "edited")
    add_forbidden_import(edited)

    # Both at once: each is mostly interpreter start-up and imports. The edited suite only
    # has to get as far as its conftest, which imports the app.
    clean_run = _pytest(procs, "suite-clean", clean)
    edited_run = _pytest(procs, "suite-edited", edited, "--collect-only")

    status, out = clean_run.wait_exit(timeout=180), clean_run.stdout()
    assert status == 0, out + clean_run.stderr()
    assert "taskguard: runtime guard on (mode error)" in out
    assert re.search(r"^taskguard-check PASSED", out, re.MULTILINE), out
    # These two only pass when the guard really refuses imports in this run.
    assert "test_a_router_importing_an_http_client_is_refused PASSED" in out
    assert "test_a_lazy_import_in_a_router_function_is_refused PASSED" in out
    summary = re.search(r"=+ (\d+) passed in ", out)
    assert summary is not None, out
    assert int(summary.group(1)) >= 20

    status, out = edited_run.wait_exit(timeout=180), edited_run.stdout()
    assert status != 0, out
    assert "TG002: app.api.routers.health may not import httpx" in out + edited_run.stderr()
