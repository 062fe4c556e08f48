"""A release is the git tag ``v<version>``: what the docs pin and the changelog names must exist.

pre-commit installs the hook from the tag given as ``rev:``; a ``rev`` naming no tag fails
every user's first ``pre-commit install``. The version itself is written once, in
``taskguard/_version.py``.
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

import taskguard

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
VERSION = taskguard.__version__
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REPOSITORY = PYPROJECT["project"]["urls"]["Repository"].rstrip("/")


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_the_version_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), VERSION


def test_every_documented_rev_is_this_release() -> None:
    revs = [
        (path.relative_to(ROOT).as_posix(), match.group(1))
        for path in _documents()
        for match in re.finditer(r"^\s*rev:\s*['\"]?([^'\"\s#]+)", path.read_text(), re.M)
    ]
    assert ("docs/ci.md", f"v{VERSION}") in revs
    assert all(rev == f"v{VERSION}" for _, rev in revs), revs


def test_the_changelog_has_a_dated_heading_and_links_for_this_release() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    heading = re.search(
        rf"^## \[{re.escape(VERSION)}\] - (\d{{4}}-\d\d-\d\d)$", changelog, re.MULTILINE
    )
    assert heading is not None, f"CHANGELOG.md has no '## [{VERSION}] - YYYY-MM-DD' heading"
    date.fromisoformat(heading.group(1))
    # Keep a Changelog: Unreleased stays on top, and both headings link somewhere real.
    assert changelog.index("## [Unreleased]") < heading.start()
    assert f"[Unreleased]: {REPOSITORY}/compare/v{VERSION}...HEAD" in changelog
    assert f"[{VERSION}]: {REPOSITORY}/releases/tag/v{VERSION}" in changelog


def test_the_pre_commit_hook_runs_this_distributions_console_script() -> None:
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    fields = dict(re.findall(r"^\s*-?\s*(id|entry|language):\s*(.+?)\s*$", hooks, re.MULTILINE))
    assert fields == {"id": "taskguard", "entry": "taskguard check", "language": "python"}
    assert fields["entry"].split()[0] in PYPROJECT["project"]["scripts"]


def test_make_reinstalls_when_the_file_holding_the_version_changes() -> None:
    # The installed metadata carries the version: `make test` must reinstall when the one
    # file that holds it changes, or it tests under a stale version.
    version_file = PYPROJECT["tool"]["hatch"]["version"]["path"]
    assert (ROOT / version_file).is_file()
    stamp_rule = re.search(r"^\$\(STAMP\):(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert stamp_rule is not None
    assert version_file in stamp_rule.group(1).split()
