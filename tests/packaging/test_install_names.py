"""Every install command in the repository installs this project, by its distribution name.

`taskguard` and `dispatch` are the import packages; on the package index both names belong to
unrelated projects, so installing either by that name would install someone else's code. This test
reads every tracked file (docs, messages, scripts, tests) for install commands and for
requirement lists, and fails on any that names one of those, or an extra that does not exist.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "cloud-tasks-guard"
# Import names that are someone else's distribution on the package index.
NOT_OURS = frozenset({"taskguard", "dispatch"})

# pip, pip3, python -m pip, uv pip, pipx (install/inject), uv/poetry/pdm add.
_COMMAND = re.compile(
    r"(?:\b(?:pip3?|uv\s+pip)\s+install|\bpipx\s+(?:install|inject)|\b(?:uv|poetry|pdm)\s+add)"
    r"(?P<args>[^`#);&|\n]*)"
)
# An old name with extras, wherever it is written (prose, a dependency list, a Dockerfile).
_OLD_WITH_EXTRAS = re.compile(
    r"(?<![\w.\-/\[])(?:taskguard|dispatch)\[[a-z][a-z0-9_-]*(?:,\s*[a-z][a-z0-9_-]*)*\]",
    re.IGNORECASE,
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*|\.")
_EXTRAS = re.compile(r"\[([^\]]*)\]")
_QUOTES = "'\"`"


def _extras() -> frozenset[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return frozenset(pyproject["project"].get("optional-dependencies", {}))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def judge_requirement(token: str, extras: frozenset[str]) -> str | None:
    """What is wrong with one requirement (or ``None``): a name or an extra that is not ours."""
    token = token.strip(_QUOTES + ",")
    if not token or token.startswith("-"):
        return None
    match = _NAME.match(token)
    if match is None:
        return None
    name = match.group(0)
    if _normalise(name) in NOT_OURS:
        return f"{name!r} is an unrelated distribution; install {DISTRIBUTION!r}"
    if name == "." or _normalise(name) == DISTRIBUTION:
        wanted = _EXTRAS.match(token, match.end())
        if wanted is not None:
            unknown = {e.strip() for e in wanted.group(1).split(",")} - extras
            if unknown:
                return f"extra(s) {sorted(unknown)} of {DISTRIBUTION} do not exist"
    return None


def install_problems(text: str, extras: frozenset[str]) -> list[tuple[int, str]]:
    """(line, problem) for each install command in ``text`` that names the wrong thing."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        found.extend(
            (number, f"{match.group(0)}: not this project's distribution (use {DISTRIBUTION})")
            for match in _OLD_WITH_EXTRAS.finditer(line)
        )
        for command in _COMMAND.finditer(line):
            for token in command.group("args").split():
                problem = judge_requirement(token, extras)
                if problem is not None:
                    found.append((number, f"{command.group(0).strip()}: {problem}"))
    return found


def requirement_list_problems(path: Path, extras: frozenset[str]) -> list[str]:
    """Problems in the dependency lists of a pyproject.toml or a requirements file."""
    if path.name == "pyproject.toml":
        data = tomllib.loads(path.read_text())
        project = data.get("project", {})
        lists = [
            data.get("build-system", {}).get("requires", []),
            project.get("dependencies", []),
            *project.get("optional-dependencies", {}).values(),
            *data.get("dependency-groups", {}).values(),
        ]
        requirements = [r for group in lists for r in group if isinstance(r, str)]
    else:
        requirements = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    problems = []
    for requirement in requirements:
        problem = judge_requirement(requirement.replace(" ", ""), extras)
        if problem is not None:
            problems.append(f"{requirement!r}: {problem}")
    return problems


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"this test reads the tracked files with `git ls-files`: {exc}")
    return [ROOT / name for name in listed.decode().split("\0") if name]


def _text(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:  # listed by git but deleted in the working tree
        return None
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def test_no_install_command_names_anything_but_this_distribution() -> None:
    extras = _extras()
    problems = []
    scanned = 0
    for path in tracked_files():
        text = _text(path)
        if text is None:
            continue
        scanned += 1
        for line, problem in install_problems(text, extras):
            problems.append(f"{path.relative_to(ROOT)}:{line}: {problem}")
        if path.name == "pyproject.toml" or re.fullmatch(r"requirements.*\.txt", path.name):
            problems.extend(
                f"{path.relative_to(ROOT)}: {p}" for p in requirement_list_problems(path, extras)
            )
    assert scanned > 100, f"only {scanned} tracked text files: is this the repository?"
    assert not problems, "\n".join(problems)


def test_the_messages_and_the_readme_name_the_distribution() -> None:
    from dispatch import CloudTasksUnavailableError

    assert f"pip install '{DISTRIBUTION}[cloud]'" in str(CloudTasksUnavailableError())
    readme = (ROOT / "README.md").read_text()
    assert f"pip install '{DISTRIBUTION}[cloud]'" in readme
    # The README says which distribution provides the import packages.
    assert re.search(r"`cloud-tasks-guard`\W+it provides the import packages\s+`taskguard`", readme)


# The scanner itself: the commands it must refuse and the ones it must let through. The old
# names are assembled at run time so that this file does not trip the scan above.
OLD = "taskguard"


@pytest.mark.parametrize(
    "line",
    [
        f"pip install {OLD}",
        f"python -m pip install '{OLD}[cloud]'",
        f"pip3 install --upgrade {OLD}==0.1.0",
        f"uv pip install {OLD}",
        f"uv add '{OLD}[cloud]'",
        f"pipx install {OLD}",
        f"poetry add dis{'patch'}",
        "pip install -e '.[" + "dev,cloud]'",  # the dev extra is a dependency group now
        f"pip install '{DISTRIBUTION}[test]'",
        f"RUN pip install --no-cache-dir {OLD.upper()}>=0.2",
        f"add `{OLD}[cloud]` to your dev dependencies",
        f'dependencies = ["dis{"patch"}[cloud,otel]>=1"]',
    ],
)
def test_the_scan_refuses(line: str) -> None:
    assert install_problems(line, frozenset({"cloud"})), line


@pytest.mark.parametrize(
    "line",
    [
        f"pip install '{DISTRIBUTION}[cloud]'",
        f"pip install {DISTRIBUTION}==0.2.0",
        "pip install -e '.[cloud]' --group dev",
        f"`pip install {DISTRIBUTION}` (the `{OLD}` import package)",
        "pip install google-cloud-tasks  # then import dispatch",
        f"taskguard run -- python -m {OLD}",
        f"[[tool.{OLD}.allow]] and [tool.{OLD}] tables",
        f"sys.modules['{OLD}'] and queues[0]",
    ],
)
def test_the_scan_accepts(line: str) -> None:
    assert install_problems(line, frozenset({"cloud"})) == [], line


def test_requirement_lists_are_read(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        f'[project]\nname = "svc"\ndependencies = ["{OLD}[cloud]>=0.1", "fastapi"]\n'
        f'[dependency-groups]\ndev = ["{DISTRIBUTION}[cloud]", "pytest"]\n'
    )
    problems = requirement_list_problems(pyproject, frozenset({"cloud"}))
    assert len(problems) == 1
    assert OLD in problems[0]
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"fastapi\ndis{'patch'} ; python_version > '3'\n")
    assert len(requirement_list_problems(requirements, frozenset())) == 1
