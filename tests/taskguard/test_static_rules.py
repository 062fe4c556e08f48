"""Per-rule pass/fail tests of the static checker, through ``taskguard.check`` on tmp projects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _check_support import codes, found, only, write_project

from taskguard import check

PROTECTED_TABLE = """\
[tool.taskguard]
root-packages = ["app"]
sanctioned = ["app.infrastructure.tasks_client"]
protected = ["app.api.routers", "app.worker.tasks"]
forbidden-in-protected = ["httpx", "requests", "concurrent.futures.ProcessPoolExecutor",
                          "urllib.request", "*.integrations.fanout"]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(root: Path, files: dict[str, str | bytes], table: str = PROTECTED_TABLE, **kw: object):
    write_project(root, files, table)
    return check(use_cache=False, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- TG001


def test_tg001_every_import_form(project: Path) -> None:
    result = run(
        project,
        {
            "app/domain/a.py": """
                import google.cloud.tasks_v2 as tasks
                from google.cloud import tasks_v2, storage
                from google.cloud.tasks_v2 import CloudTasksClient
                import importlib
                from importlib import import_module as load
                class Worker:
                    def run(self):
                        try:
                            import google.cloud.tasks
                        except ImportError:
                            pass
                        if True:
                            importlib.import_module("google.cloud.tasks_v2beta3")
                        load("google.cloud." + "tasks_v2beta2")
                        __import__("google.cloud", fromlist=["tasks_v2"])
                from google.cloud import storage as fine
                import google.cloud
                """,
            "app/infrastructure/tasks_client.py": """
                from google.cloud import tasks_v2
                """,
        },
    )
    assert found(result) == [
        ("app/domain/a.py", 1, "TG001", "google.cloud.tasks_v2"),
        ("app/domain/a.py", 2, "TG001", "google.cloud.tasks_v2"),
        ("app/domain/a.py", 3, "TG001", "google.cloud.tasks_v2"),
        ("app/domain/a.py", 9, "TG001", "google.cloud.tasks"),
        ("app/domain/a.py", 13, "TG001", "google.cloud.tasks_v2beta3"),
        ("app/domain/a.py", 14, "TG001", "google.cloud.tasks_v2beta2"),
        ("app/domain/a.py", 15, "TG001", "google.cloud.tasks_v2"),
    ]
    assert result.files_checked == 5  # two modules and three package __init__ files
    first = result.violations[0]
    assert (first.column, first.importer) == (1, "app.domain.a")
    assert "only app.infrastructure.tasks_client may" in first.message


def test_tg001_relative_import_into_a_first_party_dispatch_module(project: Path) -> None:
    table = PROTECTED_TABLE + 'dispatch-modules = ["app.legacy.queue"]\n'
    result = run(
        project,
        {
            "app/legacy/__init__.py": "from . import queue\n",
            "app/legacy/queue.py": "",
            "app/legacy/jobs.py": "from .queue import push\nfrom .. import legacy\n",
        },
        table,
    )
    assert found(result) == [
        ("app/legacy/__init__.py", 1, "TG001", "app.legacy.queue"),
        ("app/legacy/jobs.py", 1, "TG001", "app.legacy.queue"),
    ]


# --------------------------------------------------------------------------- TG002


def test_tg002_forbidden_imports_in_protected_code(project: Path) -> None:
    result = run(
        project,
        {
            "app/api/routers/episodes.py": '''
                """Docs may say import httpx without importing it."""
                import httpx
                from httpx import Client, AsyncClient
                from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
                from concurrent.futures import ThreadPoolExecutor as Pool
                import concurrent.futures
                from urllib import request, parse
                import urllib.parse
                text = "import requests"

                def later():
                    import requests.adapters as adapters
                    return adapters
                ''',
            "app/api/routers/httpx_utils.py": "import json\n",
            "app/domain/client.py": "import httpx\n",
        },
    )
    assert found(result) == [
        ("app/api/routers/episodes.py", 2, "TG002", "httpx"),
        ("app/api/routers/episodes.py", 3, "TG002", "httpx"),
        ("app/api/routers/episodes.py", 4, "TG002", "concurrent.futures.ProcessPoolExecutor"),
        ("app/api/routers/episodes.py", 7, "TG002", "urllib.request"),
        ("app/api/routers/episodes.py", 12, "TG002", "requests.adapters"),
    ]
    assert result.violations[-1].column == 5
    assert "(protected by app.api.routers)" in result.violations[0].message


@pytest.mark.parametrize("parse_all", [False, True])
def test_attribute_chains_on_a_module_above_a_pattern(project: Path, parse_all: bool) -> None:
    # ``import concurrent.futures`` is fine; reaching ProcessPoolExecutor through it is not.
    table = (
        PROTECTED_TABLE
        + """
[[tool.taskguard.allow]]
importer = "app.api.routers.allowed"
imported = "urllib.request"
reason = "fetches the public feed index"
"""
    )
    result = run(
        project,
        {
            "app/api/routers/chains.py": """
                import concurrent.futures
                import concurrent.futures as cf
                from concurrent import futures
                import urllib
                import google.cloud

                def a():
                    return concurrent.futures.ProcessPoolExecutor(max_workers=2)

                def b(pool: cf.ThreadPoolExecutor) -> object:
                    return cf.ProcessPoolExecutor.__name__

                def c():
                    return getattr(futures, "ProcessPool" "Executor")

                def d():
                    return urllib.request.urlopen("https://example.invalid")

                def e():
                    return urllib.parse.quote("x"), futures.ThreadPoolExecutor, futures.wait

                def f():
                    return google.cloud.tasks_v2.CloudTasksClient()

                def g():
                    return getattr(futures, "ProcessPoolExecutor").__name__
                """,
            "app/api/routers/once.py": """
                import httpx
                import google.cloud.tasks_v2

                def post():
                    return httpx.post, google.cloud.tasks_v2.CloudTasksClient
                """,
            "app/api/routers/allowed.py": """
                import urllib
                urllib.request.urlopen("x")  # the allow entry excuses it
                """,
            "app/api/routers/suppressed.py": """
                import urllib
                urllib.request.urlopen("x")  # taskguard: ignore[TG002] -- fixture server
                """,
            "app/domain/unprotected.py": """
                import concurrent.futures
                import google.cloud
                POOL = concurrent.futures.ProcessPoolExecutor
                CLIENT = google.cloud.tasks_v2.CloudTasksClient
                """,
            "app/infrastructure/tasks_client.py": """
                import google.cloud
                CLIENT = google.cloud.tasks_v2.CloudTasksClient
                """,
        },
        table,
        parse_all=parse_all,
    )
    member = "concurrent.futures.ProcessPoolExecutor"
    assert found(result) == [
        ("app/api/routers/chains.py", 8, "TG002", member),
        ("app/api/routers/chains.py", 11, "TG002", member),
        ("app/api/routers/chains.py", 14, "TG002", member),
        ("app/api/routers/chains.py", 17, "TG002", "urllib.request"),
        ("app/api/routers/chains.py", 23, "TG001", "google.cloud.tasks_v2"),
        ("app/api/routers/chains.py", 26, "TG002", member),
        # the imports are reported; their attribute uses are not reported again
        ("app/api/routers/once.py", 1, "TG002", "httpx"),
        ("app/api/routers/once.py", 2, "TG001", "google.cloud.tasks_v2"),
        ("app/domain/unprotected.py", 4, "TG001", "google.cloud.tasks_v2"),
    ]
    assert [v.column for v in result.violations[:2]] == [12, 12]


def test_tg002_segment_boundaries(project: Path) -> None:
    result = run(
        project,
        {
            "app/worker/taskset.py": "import httpx\n",
            "app/worker/tasks_helpers.py": "import httpx\n",
            "app/worker/tasks/transcribe.py": "import httpx\n",
            "app/worker/tasks/__init__.py": "import requests\n",
        },
    )
    assert found(result) == [
        ("app/worker/tasks/__init__.py", 1, "TG002", "requests"),
        ("app/worker/tasks/transcribe.py", 1, "TG002", "httpx"),
    ]


def test_tg002_first_party_forbidden_module_through_relative_imports(project: Path) -> None:
    result = run(
        project,
        {
            "app/integrations/fanout.py": "",
            "app/integrations/__init__.py": "",
            "app/api/routers/fan.py": "from ...integrations import fanout\n",
            "app/api/routers/fan2.py": "from app.integrations.fanout import go\n",
        },
    )
    assert found(result) == [
        ("app/api/routers/fan.py", 1, "TG002", "app.integrations.fanout"),
        ("app/api/routers/fan2.py", 1, "TG002", "app.integrations.fanout"),
    ]


def test_type_checking_blocks_follow_the_setting(project: Path) -> None:
    files: dict[str, str | bytes] = {
        "app/api/routers/typed.py": """
            import typing
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                import httpx
            if typing.TYPE_CHECKING:
                import requests
            else:
                import requests as real
            if not TYPE_CHECKING:
                import httpx as runtime
            """,
    }
    ignored = run(project, files)
    assert found(ignored) == [
        ("app/api/routers/typed.py", 8, "TG002", "requests"),
        ("app/api/routers/typed.py", 10, "TG002", "httpx"),
    ]
    checked = run(project, files, PROTECTED_TABLE + 'type-checking = "check"\n')
    assert [v.line for v in checked.violations] == [4, 6, 8, 10]


def test_allow_entries_excuse_and_stale_ones_are_tg005(project: Path) -> None:
    table = PROTECTED_TABLE + (
        "\n[[tool.taskguard.allow]]\n"
        'importer = "app.api.routers.health"\nimported = "httpx"\nreason = "probe"\n'
        "\n[[tool.taskguard.allow]]\n"
        'importer = "app.api.routers.gone"\nimported = "requests"\nreason = "old"\n'
    )
    files: dict[str, str | bytes] = {
        "app/api/routers/health.py": "import httpx\n",
        "app/api/routers/other.py": "import httpx\n",
    }
    result = run(project, files, table)
    assert found(result) == [
        ("app/api/routers/other.py", 1, "TG002", "httpx"),
        ("pyproject.toml", 13, "TG005", "requests"),
    ]
    assert "allow entry app.api.routers.gone -> requests" in result.violations[1].message
    # A run over part of the project cannot know whether an entry is stale.
    partial = check(["app/api/routers/other.py"], use_cache=False)
    assert codes(partial) == ["TG002"]


# --------------------------------------------------------------------------- TG003


def test_tg003_unverifiable_code_in_protected_packages(project: Path) -> None:
    result = run(
        project,
        {
            "app/worker/tasks/dyn.py": """
                import importlib, builtins
                from importlib import import_module
                def go(name, code):
                    importlib.import_module(name)
                    import_module("." + name, __package__)
                    import_module(".x", package=name)
                    __import__(name)
                    __import__("json", fromlist=[name])
                    exec(code)
                    eval(code)
                    builtins.compile(code, "f", "exec")
                    run = eval
                    getattr(importlib, "import_" + "module")(name)
                    getattr(builtins, code)
                    getattr(importlib, "metadata")
                    return __builtins__
                import_module(".helpers", __package__)
                importlib.import_module("json")
                """,
            "app/worker/tasks/helpers.py": "import re\npattern = re.compile('x')\n",
            "app/worker/tasks/shadow.py": "from re import compile\ncompile('x')\n",
            "app/domain/free.py": "import importlib\ndef f(n):\n    importlib.import_module(n)\n",
        },
    )
    assert [(v.line, v.code) for v in result.violations] == [
        (4, "TG003"),
        (5, "TG003"),
        (6, "TG003"),
        (7, "TG003"),
        (8, "TG003"),
        (9, "TG003"),
        (10, "TG003"),
        (11, "TG003"),
        (12, "TG003"),
        (13, "TG003"),
        (14, "TG003"),
        (16, "TG003"),
    ]
    constructs = [v.message.split(" uses ")[1].split(";")[0] for v in result.violations]
    assert constructs == [
        "importlib.import_module() with a non-constant name",
        "importlib.import_module() with a non-constant name",
        "importlib.import_module() with a non-constant package",
        "__import__() with a non-constant name",
        "__import__() with a non-constant fromlist or level",
        "exec()",
        "eval()",
        "compile()",
        "a reference to eval",
        # A constant name built from parts resolves: the call is import_module's own.
        "importlib.import_module() with a non-constant name",
        "getattr() on builtins with a computed name",
        "a reference to __builtins__",
    ]
    assert all(v.imported is None for v in result.violations)


def test_constant_dynamic_imports_in_protected_code_are_judged_like_statements(
    project: Path,
) -> None:
    result = run(
        project,
        {
            "app/worker/tasks/dyn.py": """
                import importlib
                importlib.import_module("httpx")
                importlib.import_module(f"requests")
                __import__("concurrent.futures", globals(), None, ["ProcessPoolExecutor"], 0)
                importlib.import_module("json")
                """,
        },
    )
    assert found(result) == [
        ("app/worker/tasks/dyn.py", 2, "TG002", "httpx"),
        ("app/worker/tasks/dyn.py", 3, "TG002", "requests"),
        ("app/worker/tasks/dyn.py", 4, "TG002", "concurrent.futures.ProcessPoolExecutor"),
    ]


# --------------------------------------------------------------------------- TG004

INDIRECT = PROTECTED_TABLE + "indirect = true\n"


def test_tg004_chains_through_first_party_modules(project: Path) -> None:
    result = run(
        project,
        {
            "app/api/routers/episodes.py": """
                import json
                from app.services import notify
                from app.infrastructure import tasks_client
                """,
            "app/services/notify.py": "from app.utils import http\n",
            "app/utils/http.py": "import httpx\n",
            "app/infrastructure/tasks_client.py": "from google.cloud import tasks_v2\n",
            "app/worker/tasks/direct.py": "import httpx\nfrom app.utils import http\n",
            "app/worker/tasks/lazy.py": "def f():\n    from app.services import notify\n",
        },
        INDIRECT,
    )
    assert found(result) == [
        ("app/api/routers/episodes.py", 2, "TG004", "httpx"),
        ("app/worker/tasks/direct.py", 1, "TG002", "httpx"),
        ("app/worker/tasks/lazy.py", 2, "TG004", "httpx"),
    ]
    first = result.violations[0]
    assert first.chain == (
        "app.api.routers.episodes",
        "app.services.notify",
        "app.utils.http",
        "httpx",
    )
    assert "app.api.routers.episodes -> app.services.notify -> app.utils.http -> httpx" in (
        first.message
    )
    # Without indirect = true nothing of this is reported.
    assert found(run(project, {}, PROTECTED_TABLE)) == [
        ("app/worker/tasks/direct.py", 1, "TG002", "httpx")
    ]


def test_tg004_package_init_and_partial_runs(project: Path) -> None:
    files: dict[str, str | bytes] = {
        "app/api/routers/episodes.py": "import app.utils.text\n",
        "app/utils/__init__.py": "import requests\n",
        "app/utils/text.py": "",
    }
    result = run(project, files, INDIRECT)
    assert found(result) == [("app/api/routers/episodes.py", 1, "TG004", "requests")]
    assert result.violations[0].chain == ("app.api.routers.episodes", "app.utils", "requests")
    # The graph runs through the whole project even when only one file is checked.
    partial = check(["app/api/routers/episodes.py"], use_cache=False)
    assert found(partial) == found(result)
    assert partial.files_checked == 1


def test_tg004_sanctioned_dispatch_chains_and_allow_entries(project: Path) -> None:
    table = INDIRECT.replace('"urllib.request"', '"urllib.request", "google.cloud"') + (
        "\n[[tool.taskguard.allow]]\n"
        'importer = "app.api.routers.*"\nimported = "requests"\nreason = "sdk"\n'
    )
    result = run(
        project,
        {
            "app/api/routers/a.py": "from app.infrastructure import tasks_client\n",
            "app/api/routers/b.py": "from app.sdk import client\n",
            "app/infrastructure/tasks_client.py": "from google.cloud import tasks_v2\n",
            "app/sdk/client.py": "import requests\n",
        },
        table,
    )
    assert found(result) == []


# --------------------------------------------------------------------------- TG005


def test_inline_suppressions(project: Path) -> None:
    result = run(
        project,
        {
            "app/api/routers/s.py": """
                import httpx  # taskguard: ignore[TG002] -- health probe, not dispatch
                from concurrent.futures import (  # taskguard: ignore[TG002] -- cpu bound
                    ProcessPoolExecutor,
                )
                import json  # taskguard: ignore[TG002] -- stale
                import requests  # taskguard: ignore[TG001,TG002] -- half used
                import urllib.request  # taskguard: ignore[TG002]
                import httpx as again  # taskguard: ignore[TG999] -- no such code
                text = "# taskguard: ignore[TG002] -- inside a string, not a comment"
                # taskguard: ignore[TG002] -- on its own line, applies to nothing
                """,
        },
    )
    assert [(v.line, v.code) for v in result.violations] == [
        (5, "TG005"),
        (6, "TG005"),
        (7, "TG002"),
        (7, "TG005"),
        (8, "TG002"),
        (8, "TG005"),
        (10, "TG005"),
    ]
    messages = {(v.line, v.code): v.message for v in result.violations}
    assert "ignore[TG002] matched nothing" in messages[5, "TG005"]
    assert "ignore[TG001] matched nothing" in messages[6, "TG005"]
    assert "no reason" in messages[7, "TG005"]
    assert "unknown code TG999" in messages[8, "TG005"]


# --------------------------------------------------------------------------- TG900


def test_tg900_fails_closed(project: Path) -> None:
    files: dict[str, str | bytes] = {
        "app/api/routers/broken.py": "import httpx\ndef f(:\n",
        "app/api/routers/bad_bytes.py": b"import httpx\nx = '\xff'\n",
        "app/api/routers/nul.py": b"import httpx\x00\n",
        "app/domain/ok.py": "x = 1\n",
    }
    write_project(project, files, PROTECTED_TABLE)
    os.symlink("missing_target.py", project / "app" / "domain" / "dangling.py")
    result = check(use_cache=False)
    assert [(v.path, v.line, v.code) for v in result.violations] == [
        ("app/api/routers/bad_bytes.py", 2, "TG900"),
        ("app/api/routers/broken.py", 2, "TG900"),
        ("app/api/routers/nul.py", 1, "TG900"),
        ("app/domain/dangling.py", 1, "TG900"),
    ]
    assert all(v.imported is None and v.importer is None for v in result.violations)
    assert "could not read app/domain/dangling.py" in result.violations[-1].message
    assert "could not parse app/api/routers/broken.py" in result.violations[1].message
    # Suppressions cannot hide a file taskguard could not read.
    write_project(
        project, {"app/api/routers/broken.py": "x = (  # taskguard: ignore[TG900] -- no\n"}
    )
    assert "TG900" in codes(check(use_cache=False))


# --------------------------------------------------------------------------- source text


def test_source_is_read_exactly_as_python_reads_it(project: Path) -> None:
    result = run(
        project,
        {
            "app/api/routers/latin.py": "# -*- coding: latin-1 -*-\nx = 'é'\nimport httpx\n".encode(
                "latin-1"
            ),
            "app/api/routers/bom.py": b"\xef\xbb\xbfimport httpx\r\nimport json\r\n",
            "app/api/routers/crlf.py": b"x = 1\r\nimport requests\r\n",
            "app/api/routers/nfkc.py": "import \uff48\uff54\uff54\uff50\uff58\n",
            "app/api/routers/col.py": "é = 1; import httpx\n",
            "app/api/routers/utf7.py": b"# coding: utf-7\nimport +AGg-ttpx\n",
        },
    )
    assert [(v.path, v.line, v.column, v.imported) for v in result.violations] == [
        ("app/api/routers/bom.py", 1, 1, "httpx"),
        ("app/api/routers/col.py", 1, 8, "httpx"),
        ("app/api/routers/crlf.py", 2, 1, "requests"),
        ("app/api/routers/latin.py", 3, 1, "httpx"),
        ("app/api/routers/nfkc.py", 1, 1, "httpx"),
        ("app/api/routers/utf7.py", 2, 1, "httpx"),
    ]


# --------------------------------------------------------------------------- discovery


def test_only_first_party_files_are_judged(project: Path) -> None:
    table = PROTECTED_TABLE + 'exclude = ["app/generated/**", "**/*_pb2.py"]\n'
    files: dict[str, str | bytes] = {
        "app/api/routers/a.py": "import httpx\n",
        "app/generated/api/routers/b.py": "import httpx\n",
        "app/api/routers/c_pb2.py": "import httpx\n",
        "tests/api/routers/test_a.py": "import httpx\n",
        "scripts/tool.py": "import httpx\n",
        "app/node_modules/x.py": "import httpx\n",
        "app/.hidden/x.py": "import httpx\n",
        "app/build/x.py": "import httpx\n",
    }
    result = run(project, files, table)
    assert found(result) == [("app/api/routers/a.py", 1, "TG002", "httpx")]
    # An explicit path inside an excluded directory stays excluded.
    assert check(["app/generated"], use_cache=False).files_checked == 0


def test_src_layout_and_symlink_loops(project: Path) -> None:
    table = PROTECTED_TABLE.replace('root-packages = ["app"]', 'root-packages = ["svc"]')
    table = table.replace('"app.api.routers"', '"svc.api.routers"')
    write_project(project, {"src/svc/api/routers/a.py": "import httpx\n"}, table)
    os.symlink("..", project / "src" / "svc" / "api" / "loop")
    result = check(use_cache=False)
    assert found(result) == [("src/svc/api/routers/a.py", 1, "TG002", "httpx")]
    assert result.violations[0].importer == "svc.api.routers.a"


def test_paths_relative_to_the_working_directory(project: Path) -> None:
    write_project(project / "proj", {"app/api/routers/a.py": "import httpx\n"}, PROTECTED_TABLE)
    result = check(["proj"], use_cache=False)
    assert found(result) == [("proj/app/api/routers/a.py", 1, "TG002", "httpx")]
    os.chdir(project / "proj" / "app")
    again = check(use_cache=False)
    assert found(again) == [("api/routers/a.py", 1, "TG002", "httpx")]


def test_select_and_errors(project: Path) -> None:
    write_project(
        project,
        {"app/api/routers/a.py": "import httpx\nfrom google.cloud import tasks_v2\n"},
        PROTECTED_TABLE,
    )
    assert codes(check(use_cache=False, select="TG001")) == ["TG001"]
    assert codes(check(use_cache=False, select=["tg002"])) == ["TG002"]
    with pytest.raises(ValueError, match="TG123"):
        check(select=["TG123"])
    with pytest.raises(FileNotFoundError):
        check(["nowhere"])


def test_only_the_import_statement_line_is_reported(project: Path) -> None:
    result = run(
        project,
        {
            "app/api/routers/multi.py": """
                from httpx import (
                    Client,
                    AsyncClient,
                )
                """
        },
    )
    assert [(v.line, v.column) for v in only(result, "TG002")] == [(1, 1)]
