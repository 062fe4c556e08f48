"""``taskguard run`` keeps a service with a forbidden import from starting."""

from __future__ import annotations

from pathlib import Path

from e2e_support import add_forbidden_import

from examples._stack import Processes, copy_example, start_service


def test_the_service_refuses_to_start_with_a_forbidden_import_in_a_router(
    tmp_path: Path, procs: Processes
) -> None:
    tree = copy_example(tmp_path / "podcast_app")
    router, line = add_forbidden_import(tree)

    guarded = start_service(procs, None, app_dir=tree, name="guarded", guarded=True, wait=False)
    status = guarded.proc.wait_exit(timeout=60)

    assert status != 0
    err = guarded.proc.stderr()
    assert "ForbiddenImportError" in err
    assert "TG002: app.api.routers.health may not import httpx" in err
    assert f"{router}:{line}" in err
    # The flow tests run the unedited service under taskguard run; the line named here is
    # the one this test added, so the added import, not the copy, is what was refused.
