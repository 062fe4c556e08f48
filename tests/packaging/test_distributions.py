"""The wheel and the sdist hold exactly what is meant, with metadata a user can trust.

Both are built for real, offline, by the hatchling the dev group installs (no isolated build
environment, so no network).
"""

from __future__ import annotations

import email.parser
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

import pytest

import taskguard

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
NAME = "cloud-tasks-guard"
STEM = "cloud_tasks_guard"
PACKAGES = ("taskguard", "dispatch")
# The only files outside the packages and docs/ that the sdist carries (PKG-INFO is written
# by the build; hatchling always adds the root .gitignore).
SDIST_ROOT_FILES = {
    "pyproject.toml",
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "PKG-INFO",
    ".gitignore",
}


def _source_files(top: str) -> set[str]:
    """Files under ``top`` that a build must ship: everything but bytecode caches."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def _build(source: Path, out: Path, target: str) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", target, "-d", str(out)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"hatchling build -t {target} failed:\n{result.stderr}"
    suffix = ".whl" if target == "wheel" else ".tar.gz"
    (built,) = (p for p in out.iterdir() if p.name.endswith(suffix))
    return built


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    return {"wheel": _build(ROOT, out, "wheel"), "sdist": _build(ROOT, out, "sdist")}


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _sdist_names(sdist: Path) -> set[str]:
    prefix = f"{STEM}-{taskguard.__version__}/"
    with tarfile.open(sdist) as archive:
        names = {m.name for m in archive.getmembers() if m.isfile()}
    outside = {n for n in names if not n.startswith(prefix)}
    assert not outside, f"sdist members outside {prefix}: {sorted(outside)}"
    return {n[len(prefix) :] for n in names}


def _metadata(wheel: Path) -> Message:
    dist_info = f"{STEM}-{taskguard.__version__}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"{dist_info}/METADATA").decode()
    return email.parser.Parser().parsestr(text)


def test_the_artifacts_carry_the_distribution_name_and_the_one_version(
    dists: dict[str, Path],
) -> None:
    version = taskguard.__version__
    assert dists["wheel"].name == f"{STEM}-{version}-py3-none-any.whl"
    assert dists["sdist"].name == f"{STEM}-{version}.tar.gz"
    # Written once: pyproject.toml reads it from taskguard/_version.py.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]


def test_the_wheel_holds_the_two_packages_and_its_metadata_only(dists: dict[str, Path]) -> None:
    names = _wheel_names(dists["wheel"])
    dist_info = f"{STEM}-{taskguard.__version__}.dist-info"
    expected = set().union(*(_source_files(top) for top in PACKAGES)) | {
        f"{dist_info}/{leaf}"
        for leaf in ("METADATA", "WHEEL", "RECORD", "entry_points.txt", "licenses/LICENSE")
    }
    assert names == expected, (
        f"missing: {sorted(expected - names)}; unexpected: {sorted(names - expected)}"
    )


def test_the_sdist_takes_exactly_the_anchored_paths(dists: dict[str, Path]) -> None:
    names = _sdist_names(dists["sdist"])
    expected = SDIST_ROOT_FILES.union(*(_source_files(top) for top in (*PACKAGES, "docs")))
    assert names == expected, (
        f"missing: {sorted(expected - names)}; unexpected: {sorted(names - expected)}"
    )
    # What unanchored patterns used to pull in: tests/dispatch/, examples' READMEs.
    assert not [n for n in names if n.startswith(("tests/", "examples/", "benchmarks/"))]
    assert [n for n in names if n.endswith("README.md")] == ["README.md"]


def test_the_license_file_ships_in_both(dists: dict[str, Path]) -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
    assert "taskguard maintainers" in license_text
    dist_info = f"{STEM}-{taskguard.__version__}.dist-info"
    with zipfile.ZipFile(dists["wheel"]) as archive:
        assert archive.read(f"{dist_info}/licenses/LICENSE").decode() == license_text
    with tarfile.open(dists["sdist"]) as archive:
        member = archive.extractfile(f"{STEM}-{taskguard.__version__}/LICENSE")
        assert member is not None
        assert member.read().decode() == license_text


def test_the_metadata_names_the_project_its_license_and_its_urls(dists: dict[str, Path]) -> None:
    meta = _metadata(dists["wheel"])
    assert meta["Name"] == NAME
    assert meta["Version"] == taskguard.__version__
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Repository", "Documentation", "Changelog", "Issues"}
    repository = urls["Repository"]
    assert repository.startswith("https://github.com/")
    for label, url in urls.items():
        assert url.startswith(repository), (label, url)
    # The dev tools are a dependency group: never a published extra.
    assert meta.get_all("Provides-Extra") == ["cloud", "otel"]
    requirements = " ".join(meta.get_all("Requires-Dist") or [])
    for tool in ("pytest", "ruff", "mypy", "hatchling", "hypothesis"):
        assert tool not in requirements
    # The package page shows the README: it must be the project's own.
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload() == (ROOT / "README.md").read_text()


def test_the_entry_points_survive_the_rename(dists: dict[str, Path]) -> None:
    dist_info = f"{STEM}-{taskguard.__version__}.dist-info"
    with zipfile.ZipFile(dists["wheel"]) as archive:
        text = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert "taskguard = taskguard.__main__:main" in text
    assert "taskguard = taskguard.pytest_plugin" in text
    assert "dispatch = dispatch.pytest_plugin" in text


def test_the_sdist_builds_the_same_wheel(dists: dict[str, Path], tmp_path: Path) -> None:
    with tarfile.open(dists["sdist"]) as archive:
        archive.extractall(tmp_path, filter="data")
    source = tmp_path / f"{STEM}-{taskguard.__version__}"
    rebuilt = _build(source, tmp_path / "out", "wheel")
    assert _wheel_names(rebuilt) == _wheel_names(dists["wheel"])


def test_dev_tools_are_a_dependency_group_not_an_extra() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "dev" not in pyproject["project"].get("optional-dependencies", {})
    group = pyproject["dependency-groups"]["dev"]
    assert any(req.startswith("pytest") for req in group)
    assert any(req.startswith("hatchling") for req in group)
    # `pip install --group` exists from pip 25.1: both install paths upgrade pip first.
    for script in ("Makefile", ".ci/run"):
        text = (ROOT / script).read_text()
        upgrade = text.index("pip install --quiet 'pip>=25.1'")
        install = text.index("pip install --quiet -e '.[cloud]' --group dev")
        assert upgrade < install, script
