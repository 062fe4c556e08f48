"""This suite runs under the runtime guard in error mode (pyproject.toml sets mode)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from taskguard import ForbiddenImportError

import app.api.routers


@pytest.fixture
def extra_router_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory searched for app.api.routers submodules, for this test only."""
    routers = app.api.routers
    routers.__path__.append(str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield tmp_path
    finally:
        routers.__path__.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("app.api.routers.probe_")]:
            del sys.modules[name]


def test_a_router_importing_an_http_client_is_refused(extra_router_dir: Path) -> None:
    (extra_router_dir / "probe_http.py").write_text("import httpx\n")

    with pytest.raises(ForbiddenImportError) as caught:
        importlib.import_module("app.api.routers.probe_http")

    assert (caught.value.importer, caught.value.imported) == ("app.api.routers.probe_http", "httpx")


def test_a_lazy_import_in_a_router_function_is_refused(extra_router_dir: Path) -> None:
    (extra_router_dir / "probe_lazy.py").write_text(
        "def fetch():\n    import requests\n    return requests\n"
    )
    module = importlib.import_module("app.api.routers.probe_lazy")

    with pytest.raises(ForbiddenImportError) as caught:
        module.fetch()

    assert caught.value.imported == "requests"
