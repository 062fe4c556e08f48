"""The ``baseline`` key of ``[tool.taskguard]``: where the baseline file lives."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from taskguard import Policy, PolicyError, load_policy


def write(root: Path, table: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(table, encoding="utf-8")
    return root


def test_default_is_taskguard_baseline_json_at_the_project_root(tmp_path: Path) -> None:
    root = write(tmp_path / "proj", '[tool.taskguard]\nroot-packages = ["app"]\n')
    (root / "app").mkdir()
    policy = load_policy(root / "app")
    assert policy.baseline == "taskguard-baseline.json"
    assert policy.baseline_path == root.resolve() / "taskguard-baseline.json"


def test_a_relative_path_is_anchored_at_the_project_root(tmp_path: Path) -> None:
    root = write(tmp_path / "proj", '[tool.taskguard]\nbaseline = "ci/taskguard.json"\n')
    (root / "app").mkdir()
    policy = load_policy(root / "app")
    assert policy.baseline_path == root.resolve() / "ci" / "taskguard.json"


def test_an_absolute_path_stays(tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared" / "b.json"
    root = write(tmp_path / "proj", f"[tool.taskguard]\nbaseline = '{elsewhere}'\n")
    assert load_policy(root).baseline_path == elsewhere


def test_no_project_root_means_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Policy().baseline_path == tmp_path / "taskguard-baseline.json"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("1", "expected a path (a string), got int"),
        ('["a.json"]', "expected a path (a string), got list"),
        ('""', "empty string"),
        ('"   "', "empty string"),
        ('"ci/"', "the path of a file, got the directory 'ci/'"),
        ('"ci/.."', "got the directory"),
        ('"."', "got the directory"),
        ('"a\\u0000b.json"', "NUL"),
    ],
)
def test_bad_values_are_policy_errors_naming_the_key(
    tmp_path: Path, value: str, fragment: str
) -> None:
    root = write(tmp_path, f'[tool.taskguard]\nbaseline = {value}\nmode = "loud"\n')
    with pytest.raises(PolicyError) as info:
        load_policy(root)
    problems = dict(info.value.problems)
    # Reported together with the table's other problems.
    assert set(problems) == {"baseline", "mode"}
    assert fragment in problems["baseline"]
    assert "baseline:" in str(info.value)


def test_a_misspelt_key_suggests_baseline(tmp_path: Path) -> None:
    root = write(tmp_path, '[tool.taskguard]\nbase-line = "b.json"\n')
    with pytest.raises(PolicyError, match="did you mean 'baseline'"):
        load_policy(root)


def test_the_policy_value_validates_and_pickles() -> None:
    with pytest.raises(PolicyError, match="baseline"):
        Policy(baseline="")
    policy = Policy(baseline="b.json")
    assert pickle.loads(pickle.dumps(policy)).baseline == "b.json"
