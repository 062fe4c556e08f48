"""Acceptance findings on the baseline, through the console script: an import sorter's edits
(names reordered, ``import a, b`` split in two, names added beside the forbidden one) are
reformatting, and keep a baselined import baselined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _check_support import age_tree, run_cli, write_project

import taskguard._baseline as bl

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
sanctioned = ["app.infrastructure.tasks_client"]
protected = ["app.api"]
forbidden-in-protected = ["httpx", "requests", "aiohttp",
                          "concurrent.futures.ProcessPoolExecutor"]
"""
ROUTER = "app/api/routers.py"
BEFORE = """\
import requests, aiohttp
from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor
from google.cloud import tasks_v2, storage
from httpx import get, Client
"""
# What isort / ruff (I001, E401) make of it: one module per import statement, names sorted.
SORTED = """\
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import aiohttp
import requests
from google.cloud import storage, tasks_v2
from httpx import Client, get
"""
BASELINE = "taskguard-baseline.json"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "proj", {ROUTER: BEFORE}, TABLE)
    done = run_cli(["check", "--write-baseline"], root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 baselined" in done.stdout
    return root


def edit(root: Path, source: str) -> None:
    (root / ROUTER).write_text(source, encoding="utf-8")
    age_tree(root)


def test_an_import_sorters_edits_keep_every_entry(project: Path) -> None:
    edit(project, SORTED)
    for fmt in ("text", "json", "github", "sarif"):
        done = run_cli(["check", "--format", fmt], project)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "5 baselined" in run_cli(["check"], project).stdout
    rewritten = run_cli(["check", "--write-baseline"], project)
    assert rewritten.returncode == 0
    assert "(no change)" in rewritten.stderr


def test_the_names_kept_are_the_forbidden_ones(project: Path) -> None:
    statements = sorted(
        row["statement"]
        for row in json.loads((project / BASELINE).read_text(encoding="utf-8"))["entries"]
    )
    assert statements == [
        "from concurrent.futures import ProcessPoolExecutor",
        "from google.cloud import tasks_v2",
        "from httpx import Client, get",
        "import aiohttp",
        "import requests",
    ]


def test_a_changed_statement_is_still_new(project: Path) -> None:
    # An alias, or a name added to an import of the forbidden module itself, is a change.
    edit(project, BEFORE.replace("import requests, aiohttp", "import requests as r, aiohttp"))
    done = run_cli(["check"], project)
    assert done.returncode == 1
    assert "imports forbidden requests" in done.stdout
    assert "TG005" in done.stdout
    edit(project, BEFORE.replace("get, Client", "get, Client, post"))
    done = run_cli(["check"], project)
    assert done.returncode == 1
    assert "imports forbidden httpx" in done.stdout


def test_a_file_recorded_with_whole_statements_still_matches(project: Path) -> None:
    # Baselines written before this change hold the statement as it stood, all names in it.
    old = {
        "version": 1,
        "entries": [
            {
                "code": "TG002",
                "importer": "app.api.routers",
                "imported": name,
                "statement": "import requests, aiohttp",
                "count": 1,
            }
            for name in ("aiohttp", "requests")
        ],
    }
    (project / BASELINE).write_text(json.dumps(old), encoding="utf-8")
    edit(project, "import aiohttp\nimport requests\n")
    done = run_cli(["check"], project)
    assert done.returncode == 0, done.stdout
    assert "2 baselined" in done.stdout
    rewritten = run_cli(["check", "--write-baseline"], project)
    assert "(no change)" in rewritten.stderr


def test_one_import_of_two_removed_leaves_one_stale_entry_with_its_line() -> None:
    a = bl.Entry("TG002", "app.x", "requests", "import requests, aiohttp")
    b = bl.Entry("TG002", "app.x", "requests", "import requests")
    loaded = bl.loads(bl.dumps(bl.Baseline({a: 1, b: 1})), "b.json")
    violation = bl.Violation("app/x.py", 1, 1, "TG002", "app.x", "requests", "m")
    outcome = bl.match([(violation, b)], loaded)
    assert outcome.baselined == (violation,)
    assert len(outcome.stale) == 1
    [stale] = bl.stale_violations(outcome.stale, loaded, "b.json")
    assert stale.line in (loaded.lines[a], loaded.lines[b])
