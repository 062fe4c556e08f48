"""The verdict memo (``taskguard._memo``): a current memo is replayed byte for byte by the
console script, and any change to what the run read is never answered from it.

A memo is only stored when everything the run read is older than the racy window (2 s), and
these tests write their projects just before: each memoises in this process with the window
set to zero (as if the files were older), then runs the real console script. To tell a
replay from a run, the stored report is replaced by a sentinel: the console script prints the
sentinel only when it replays.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from _check_support import run_cli, write_project

from taskguard import _cli, _memo
from taskguard._cache import CACHE_DIR

ARGS = ["check", "--format", "json"]
SENTINEL = "replayed from the memo\n"
FILES = {
    "app/api/routers/bad.py": "import httpx\n",
    "app/api/routers/ok.py": "import json\n",
    "app/domain/models.py": "import requests\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj", FILES)


@pytest.fixture
def memoise(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Path]:
    """Run ``taskguard args`` in this process in ``cwd`` as if every file were older than
    the racy window; return the memo it wrote, its report replaced by the sentinel."""
    monkeypatch.delenv("NO_COLOR", raising=False)

    def run(cwd: Path, args: list[str] = ARGS, *, sentinel: bool = True) -> Path:
        monkeypatch.chdir(cwd)
        with monkeypatch.context() as patched:
            patched.setattr(_memo, "RACY_NS", 0)
            # The first run creates the cache directory, which changes the project root's
            # stamp; the second stores the memo of the project as it is now.
            for _ in range(2):
                _cli.main(args)
        capsys.readouterr()
        memos = memo_files(cwd)
        assert len(memos) == 1, memos
        if sentinel:
            data = list(marshal.loads(memos[0].read_bytes()))
            data[3] = SENTINEL
            memos[0].write_bytes(marshal.dumps(tuple(data)))
        return memos[0]

    return run


def memo_files(start: Path) -> list[Path]:
    for directory in (start, *start.parents):
        found = sorted((directory / CACHE_DIR).glob(f"{_memo.PREFIX}*.bin"))
        if found:
            return found
    return []


def fresh(cwd: Path, args: list[str] = ARGS) -> subprocess.CompletedProcess[str]:
    """The report of a run that reads everything again."""
    return run_cli([*args, "--no-cache"], cwd)


def assert_not_replayed(cwd: Path, args: list[str] = ARGS) -> None:
    out = run_cli(args, cwd)
    assert out.stdout != SENTINEL
    expected = fresh(cwd, args)
    assert (out.returncode, out.stdout, out.stderr) == (
        expected.returncode,
        expected.stdout,
        expected.stderr,
    )


def same_size_edit(path: Path, text: str) -> None:
    """Replace ``path``'s text by ``text`` of the same size, putting its mtime back."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)


# --------------------------------------------------------------------------- replayed


@pytest.mark.parametrize("fmt", ["json", "text", "github", "sarif"])
def test_a_replay_is_the_run_byte_for_byte(
    project: Path, memoise: Callable[..., Path], fmt: str
) -> None:
    args = ["check", "--format", fmt]
    memoise(project, args, sentinel=False)
    # -X importtime shows whether the CLI ran: a replay never imports it.
    replay = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "taskguard", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "NO_COLOR"},
    )
    assert "taskguard._memo" in replay.stderr
    assert "taskguard._cli" not in replay.stderr
    expected = fresh(project, args)
    assert (replay.returncode, replay.stdout) == (expected.returncode, expected.stdout)
    assert expected.returncode == 1
    assert "app/api/routers/bad.py" in expected.stdout


def test_an_unchanged_project_is_replayed(project: Path, memoise: Callable[..., Path]) -> None:
    memoise(project)
    out = run_cli(ARGS, project)
    assert (out.returncode, out.stdout, out.stderr) == (1, SENTINEL, "")
    # python -m taskguard is the same command.
    assert run_cli(ARGS, project, module=True).stdout == SENTINEL


# --------------------------------------------------------------------------- changes


def _edit_in_place(root: Path) -> None:
    same_size_edit(root / "app/api/routers/ok.py", "import httpx")


def _new_file(root: Path) -> None:
    (root / "app/api/routers/new.py").write_text("import requests\n", encoding="utf-8")


def _deleted_file(root: Path) -> None:
    (root / "app/api/routers/bad.py").unlink()


def _renamed_file(root: Path) -> None:
    (root / "app/api/routers/bad.py").rename(root / "app/api/routers/bad_renamed.py")


def _moved_out_of_protected(root: Path) -> None:
    (root / "app/api/routers/bad.py").rename(root / "app/domain/bad.py")


def _new_subpackage(root: Path) -> None:
    sub = root / "app/api/routers/admin"
    sub.mkdir()
    (sub / "__init__.py").write_text("", encoding="utf-8")
    (sub / "users.py").write_text("import aiohttp\n", encoding="utf-8")


def _new_directory_deep_down(root: Path) -> None:
    sub = root / "app/api/routers/v2/internal"
    sub.mkdir(parents=True)
    (sub / "calls.py").write_text("import urllib3\n", encoding="utf-8")


def _policy_changed(root: Path) -> None:
    with (root / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write('protected = ["app.domain"]\n')


def _policy_edited_in_place(root: Path) -> None:
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    same_size_edit(pyproject, text.replace('["app"]', '["ap*"]'))


def _baseline_written(root: Path) -> None:
    assert run_cli(["check", "--write-baseline"], root).returncode == 0


def _file_made_unreadable(root: Path) -> None:
    # A dangling symlink where a module was: TG900, could not read.
    target = root / "app/api/routers/ok.py"
    target.unlink()
    target.symlink_to(root / "nowhere.py")


CHANGES = {
    "edited in place, same size and mtime": _edit_in_place,
    "new file": _new_file,
    "deleted file": _deleted_file,
    "renamed file": _renamed_file,
    "file moved out of a protected package": _moved_out_of_protected,
    "new subpackage with a violation": _new_subpackage,
    "new directories without __init__": _new_directory_deep_down,
    "policy changed": _policy_changed,
    "policy edited in place, same size and mtime": _policy_edited_in_place,
    "baseline written": _baseline_written,
    "file made unreadable": _file_made_unreadable,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_is_never_answered_from_the_memo(
    project: Path, memoise: Callable[..., Path], change: str
) -> None:
    memoise(project)
    assert run_cli(ARGS, project).stdout == SENTINEL  # the control: it would replay
    CHANGES[change](project)
    assert_not_replayed(project)


def test_a_changed_baseline_is_read_again(project: Path, memoise: Callable[..., Path]) -> None:
    assert run_cli(["check", "--write-baseline"], project).returncode == 0
    memoise(project)
    assert run_cli(ARGS, project).stdout == SENTINEL
    baseline = project / "taskguard-baseline.json"
    lines = baseline.read_text(encoding="ascii").splitlines(keepends=True)
    # Drop the one entry (httpx in bad.py): the violation fails again.
    kept = [line for line in lines if "httpx" not in line]
    assert len(kept) < len(lines)
    baseline.write_text("".join(kept).replace("},\n  ]", "}\n  ]"), encoding="ascii")
    assert_not_replayed(project)
    assert run_cli(ARGS, project).returncode == 1


def test_a_changed_config_file_is_read_again(project: Path, memoise: Callable[..., Path]) -> None:
    config = project / "other.toml"
    config.write_text('[tool.taskguard]\nroot-packages = ["app"]\n', encoding="utf-8")
    args = [*ARGS, "--config", "other.toml"]
    memoise(project, args)
    assert run_cli(args, project).stdout == SENTINEL
    with config.open("a", encoding="utf-8") as fh:
        fh.write('protected = ["app.domain"]\n')
    assert_not_replayed(project, args)


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--format", "text"],
        ["check", "--format", "json", "--select", "TG001"],
        ["check", "--format", "json", "app"],
        ["check", "--format=json"],
    ],
)
def test_another_command_is_not_answered_from_the_memo(
    project: Path, memoise: Callable[..., Path], args: list[str]
) -> None:
    memoise(project)
    assert_not_replayed(project, args)


def test_another_working_directory_is_not_answered_from_the_memo(
    project: Path, memoise: Callable[..., Path]
) -> None:
    memoise(project)
    # The same command from a subdirectory: paths are shown relative to it.
    assert_not_replayed(project / "app")


def test_no_color_and_a_terminal_are_part_of_the_key(
    project: Path, memoise: Callable[..., Path]
) -> None:
    args = ["check", "--format", "text"]
    memoise(project, args)
    assert run_cli(args, project).stdout == SENTINEL
    out = run_cli(args, project, env={"NO_COLOR": "1"})
    assert out.stdout != SENTINEL
    assert "bad.py" in out.stdout
    # A terminal gets colours: the key holds whether standard output is one.
    assert _memo.key(args)[-1] is False


def test_a_nearer_pyproject_is_seen(project: Path, memoise: Callable[..., Path]) -> None:
    # From a directory the walk never lists (not first-party), a pyproject.toml written
    # there becomes the policy: only the memo's record of where it looked can see it.
    docs = project / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# docs\n", encoding="utf-8")
    memoise(docs)
    assert run_cli(ARGS, docs).stdout == SENTINEL
    (docs / "pyproject.toml").write_text(
        '[tool.taskguard]\nroot-packages = ["docs"]\n', encoding="utf-8"
    )
    assert_not_replayed(docs)


def test_a_package_that_discovery_would_find_is_seen(
    tmp_path: Path, memoise: Callable[..., Path]
) -> None:
    # No root-packages: they are discovered. "lib" holds no Python yet, so it is neither a
    # root package nor walked; a module written there makes it one.
    root = write_project(tmp_path / "proj", FILES, table="[tool.taskguard]\n")
    (root / "lib").mkdir()
    (root / "lib" / "README").write_text("later\n", encoding="utf-8")
    memoise(root)
    assert run_cli(ARGS, root).stdout == SENTINEL
    (root / "lib" / "__init__.py").write_text("", encoding="utf-8")
    routers = root / "lib" / "api" / "routers"
    routers.mkdir(parents=True)
    (routers / "calls.py").write_text("import httpx\n", encoding="utf-8")
    assert_not_replayed(root)
    assert "lib/api/routers/calls.py" in run_cli(ARGS, root).stdout


def test_a_symlinked_directory_is_followed(
    tmp_path: Path, project: Path, memoise: Callable[..., Path]
) -> None:
    outside = tmp_path / "shared_routers"
    outside.mkdir()
    (outside / "feeds.py").write_text("import json\n", encoding="utf-8")
    (project / "app/api/routers/shared").symlink_to(outside, target_is_directory=True)
    memoise(project)
    assert run_cli(ARGS, project).stdout == SENTINEL
    # A change behind the symlink, where the project's own directories do not change.
    (outside / "pull.py").write_text("import requests\n", encoding="utf-8")
    assert_not_replayed(project)
    assert "app/api/routers/shared/pull.py" in run_cli(ARGS, project).stdout


def test_a_retargeted_symlink_is_seen(
    tmp_path: Path, project: Path, memoise: Callable[..., Path]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for directory, module in ((first, "import json\n"), (second, "import httpx\n")):
        directory.mkdir()
        (directory / "feeds.py").write_text(module, encoding="utf-8")
        os.utime(directory / "feeds.py", ns=(10**18, 10**18))
    link = project / "app/api/routers/shared"
    link.symlink_to(first, target_is_directory=True)
    memoise(project)
    link.unlink()
    link.symlink_to(second, target_is_directory=True)
    assert_not_replayed(project)


def test_a_damaged_memo_is_ignored_and_rewritten(
    project: Path, memoise: Callable[..., Path]
) -> None:
    memo = memoise(project)
    memo.write_bytes(b"\x00not a memo")
    assert_not_replayed(project)
    memo.write_bytes(marshal.dumps((_memo.FORMAT, "another key")))
    assert_not_replayed(project)


# --------------------------------------------------------------------------- never stored


def test_a_racy_file_is_never_memoised(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Modified "now" (a file system clock ahead of ours, or an edit during the run): its
    # stamps could stay the same through the next edit.
    now = project / "app/api/routers/ok.py"
    os.utime(now, ns=(now.stat().st_atime_ns, 2**62))
    monkeypatch.chdir(project)
    monkeypatch.setattr(_memo, "RACY_NS", 0)
    for _ in range(2):
        _cli.main(ARGS)
    capsys.readouterr()
    assert memo_files(project) == []


def test_within_the_racy_window_nothing_is_memoised(project: Path) -> None:
    # The real window: the project was written just now.
    for _ in range(2):
        assert run_cli(ARGS, project).returncode == 1
    assert memo_files(project) == []


@pytest.mark.parametrize(
    ("args", "expected_code"),
    [
        (["check", "--no-cache", "--format", "json"], 1),
        (["check", "--write-baseline"], 0),
        (["check", "--fast", "--format", "json"], 1),  # a deprecation warning on stderr
        (["check", "--format", "json", "docs"], 2),  # no files checked
        (["check", "--format", "json", "missing"], 2),
        (["check", "--format", "json", "--select", "TG999"], 2),
    ],
)
def test_only_pure_read_only_runs_are_memoised(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected_code: int,
) -> None:
    (project / "docs").mkdir()
    (project / "docs" / "conf.py").write_text("import httpx\n", encoding="utf-8")
    monkeypatch.chdir(project)
    monkeypatch.setattr(_memo, "RACY_NS", 0)
    for _ in range(2):
        assert _cli.main(args) == expected_code
    capsys.readouterr()
    assert memo_files(project) == []


def test_a_file_that_cannot_be_read_is_never_memoised(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _file_made_unreadable(project)
    monkeypatch.chdir(project)
    monkeypatch.setattr(_memo, "RACY_NS", 0)
    for _ in range(2):
        assert _cli.main(ARGS) == 1
    assert "could not read" in capsys.readouterr().out
    assert memo_files(project) == []


def test_a_file_that_does_not_parse_is_memoised(
    tmp_path: Path, memoise: Callable[..., Path]
) -> None:
    # A syntax error is a lasting property of the bytes: the record cache keeps it too.
    files = {**FILES, "app/api/routers/broken.py": "import httpx\ndef f(:\n"}
    root = write_project(tmp_path / "proj", files)
    memoise(root, sentinel=False)
    out = run_cli(ARGS, root)
    assert out.returncode == 1
    assert "could not parse" in out.stdout
    assert out.stdout == fresh(root).stdout


def test_a_stale_memo_is_removed_by_a_run_that_cannot_be_memoised(
    project: Path, memoise: Callable[..., Path]
) -> None:
    memo = memoise(project)
    _new_file(project)  # now racy: the next run cannot be memoised
    assert_not_replayed(project)
    assert not memo.exists()


def test_a_console_script_of_the_old_entry_point_replays_too(
    project: Path, memoise: Callable[..., Path]
) -> None:
    # A script installed before the entry point moved calls taskguard._cli:main() with no
    # arguments; called with arguments (from Python), main() always runs.
    memoise(project)
    code = (
        "import sys; from taskguard._cli import main; "
        "sys.argv = ['taskguard', *sys.argv[1:]]; code = main(); "
        "sys.stdout.flush(); main(sys.argv[1:]); sys.exit(code)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *ARGS],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "NO_COLOR"},
    )
    assert out.returncode == 1
    replayed, _, ran = out.stdout.partition("\n")
    assert replayed + "\n" == SENTINEL
    assert ran == fresh(project).stdout


@pytest.mark.parametrize(
    "change",
    ["edit in place", "new module", "new directory", "subdirectory became a symlink"],
)
def test_a_recently_changed_directory_is_compared_by_listing_it(
    tmp_path: Path, memoise: Callable[..., Path], change: str
) -> None:
    # The project root changed "just now" (as after removing the cache directory): its
    # stamp cannot be trusted, so the memo lists it again, as the walk does.
    table = '[tool.taskguard]\nroot-packages = ["app", "main", "extra"]\n'
    root = write_project(tmp_path / "proj", {**FILES, "main.py": "import json\n"}, table=table)
    (root / CACHE_DIR).mkdir()  # so that no run changes the root again
    future = 2**62
    os.utime(root, ns=(future, future))
    memo = memoise(root)
    listed = [directory for directory, _identity, _listing in marshal.loads(memo.read_bytes())[6]]
    assert listed == [str(root)]
    assert run_cli(ARGS, root).stdout == SENTINEL  # listed again, and unchanged
    if change == "edit in place":
        same_size_edit(root / "main.py", "import httpx")
    elif change == "new module":
        (root / "extra.py").write_text("import httpx\n", encoding="utf-8")
    elif change == "new directory":
        (root / "extra").mkdir()
        (root / "extra" / "__init__.py").write_text("import httpx\n", encoding="utf-8")
    else:
        domain = root / "app" / "domain"
        domain.rename(tmp_path / "domain")
        domain.symlink_to(tmp_path / "domain", target_is_directory=True)
    os.utime(root, ns=(future, future))  # the root's stamp says nothing
    assert_not_replayed(root)


def test_a_memo_is_read_only_where_its_run_keeps_the_cache(
    tmp_path: Path, project: Path, memoise: Callable[..., Path]
) -> None:
    # The console script looks above the working directory too; a memo found in a cache
    # directory other than its project's (a shared /tmp, say) is not used.
    memo = memoise(project)
    elsewhere = tmp_path / CACHE_DIR
    elsewhere.mkdir()
    memo.rename(elsewhere / memo.name)
    assert_not_replayed(project)


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs chown")
def test_a_memo_another_user_wrote_is_not_used(project: Path, memoise: Callable[..., Path]) -> None:
    memo = memoise(project)
    assert run_cli(ARGS, project).stdout == SENTINEL
    os.chown(memo, 4242, -1)
    assert_not_replayed(project)
