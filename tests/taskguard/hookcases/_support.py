"""Shared set-up for guard cases. Each case script runs in a fresh interpreter whose working
directory is an empty temporary directory; importing this module writes the standard
project tree there and puts it on ``sys.path``."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskguard._errors import ForbiddenImportError
from taskguard._policy import Policy

ROOT = Path.cwd()

BASE_FILES = {
    "app/__init__.py": "",
    "app/api/__init__.py": "",
    "app/api/routers/__init__.py": "",
    "app/infrastructure/__init__.py": "",
    "app/infrastructure/tasks_client.py": "from fakecloud import tasks\nCLIENT = tasks.NAME\n",
    "app/services/__init__.py": "",
    "app/worker/__init__.py": "",
    "app/worker/tasks.py": "",
    "fakehttp/__init__.py": "NAME = 'fakehttp'\n",
    "fakehttp/sub.py": "NAME = 'fakehttp.sub'\n",
    "fakecloud/__init__.py": "",
    "fakecloud/tasks/__init__.py": "NAME = 'fakecloud.tasks'\n",
}


def make_policy(**overrides: Any) -> Policy:
    settings: dict[str, Any] = {
        "root_packages": ("app",),
        "sanctioned": ("app.infrastructure.tasks_client",),
        "dispatch_modules": ("fakecloud.tasks", "google.cloud.tasks_v2"),
        "protected": ("app.api.routers", "app.worker.tasks"),
        "forbidden_in_protected": (
            "fakehttp",
            "http.client",
            "urllib.request",
            "concurrent.futures.ProcessPoolExecutor",
        ),
        "project_root": ROOT,
    }
    settings.update(overrides)
    return Policy(**settings)


POLICY = make_policy()


def write(files: dict[str, str], base: Path = ROOT) -> None:
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def blocked(call: Callable[[], object]) -> ForbiddenImportError:
    """Run ``call`` and return the ForbiddenImportError it must raise."""
    try:
        call()
    except ForbiddenImportError as exc:
        return exc
    raise AssertionError(f"{call!r} was not blocked")


def import_blocked(name: str) -> ForbiddenImportError:
    import importlib

    return blocked(lambda: importlib.import_module(name))


def done() -> None:
    print("CASE-OK", sys.version_info[:2])


def skip(reason: str) -> None:
    print("CASE-SKIP", reason)
    raise SystemExit(0)


def needs(module: str) -> Any:
    """Import a third-party package the test run provides to every interpreter.

    Its absence fails the case, unless the run could not install it (it then says why in
    ``TASKGUARD_CASE_DEPS_MISSING``): the case is skipped and the runner judges that.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        missing = os.environ.get("TASKGUARD_CASE_DEPS_MISSING")
        if missing is None:
            raise
        skip(f"{module} is not importable by this interpreter")


def unload(*names: str) -> None:
    """Forget modules (and their submodules) so the next import is a first load."""
    for loaded in list(sys.modules):
        if any(loaded == name or loaded.startswith(name + ".") for name in names):
            del sys.modules[loaded]


write(BASE_FILES)
sys.path.insert(0, str(ROOT))
# The forbidden targets are loaded before any case installs the guard, so cases prove the
# per-module builtins: the find_spec frame check only ever sees first loads. Cases about
# first loads call unload().
PRELOADED = ("fakehttp", "fakehttp.sub", "fakecloud.tasks", "http.client", "urllib.request")
for _name in PRELOADED:
    importlib.import_module(_name)
