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
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _check_support import SCRIPT, run_cli, write_project

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


# --------------------------------------------------------------------------- attacks


@pytest.mark.parametrize("listed", [False, True], ids=["root stamped", "root listed again"])
def test_a_dangling_symlink_where_the_baseline_was_missing_is_seen(
    project: Path, memoise: Callable[..., Path], listed: bool
) -> None:
    # The run reads a baseline that lexists (a dangling symlink is an error, exit 2); the
    # memo must not call it missing because stat() cannot follow it. A root changed "just
    # now" is compared by its listing, which holds no .json: only the stamp of the
    # baseline's path can tell.
    if listed:
        (project / CACHE_DIR).mkdir()
        os.utime(project, ns=(2**62, 2**62))
    memoise(project)
    assert run_cli(ARGS, project).stdout == SENTINEL
    (project / "taskguard-baseline.json").symlink_to(project / "nowhere.json")
    if listed:
        os.utime(project, ns=(2**62, 2**62))
    assert_not_replayed(project)
    assert run_cli(ARGS, project).returncode == 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_a_fifo_planted_where_a_memo_may_be_does_not_hang_the_run(
    tmp_path: Path, project: Path
) -> None:
    # A memo is looked for in the cache directories above the working directory, and the
    # file name is predictable: a FIFO there (anyone's, in a shared /tmp) must not block.
    shared = tmp_path / CACHE_DIR
    shared.mkdir()
    code = (
        "import sys; from taskguard import _memo; print(_memo.file_name(_memo.key(sys.argv[1:])))"
    )
    name = subprocess.run(
        [sys.executable, "-c", code, *ARGS],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    os.mkfifo(shared / name)
    assert_not_replayed(project)


def test_an_edited_rule_page_is_part_of_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SARIF report quotes the rule pages (taskguard/rules/*.md): an edit to one in a
    # checkout changes the report, as an edit to a source file does.
    package = tmp_path / "taskguard"
    shutil.copytree(Path(_memo.PACKAGE), package)
    monkeypatch.setattr(_memo, "PACKAGE", str(package))
    args = ["check", "--format", "sarif"]
    before = _memo.key(args)
    assert _memo.key(args) == before
    page = package / "rules" / "TG002.md"
    with page.open("a", encoding="utf-8") as fh:
        fh.write("\nOne more line.\n")
    assert _memo.key(args) != before


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_a_path_standard_output_cannot_encode_is_no_traceback(
    tmp_path: Path, memoise: Callable[..., Path], fmt: str
) -> None:
    # A report naming a non-ASCII path, on an ASCII standard output: replayed or run, the
    # same escaped report and exit code, never a traceback.
    root = write_project(
        tmp_path / "proj", {**FILES, "app/api/routers/caf\u00e9.py": "import httpx\n"}
    )
    args = ["check", "--format", fmt]
    memoise(root, args, sentinel=False)
    ascii_out = {"PYTHONIOENCODING": "ascii"}
    replayed = run_cli(args, root, env=ascii_out)
    ran = run_cli([*args, "--no-cache"], root, env=ascii_out)
    assert (replayed.returncode, replayed.stdout, replayed.stderr) == (
        ran.returncode,
        ran.stdout,
        ran.stderr,
    )
    assert (ran.returncode, ran.stderr) == (1, "")
    assert "app/api/routers/caf\\xe9.py" in ran.stdout


def test_a_memo_that_is_a_symlink_is_not_followed(
    tmp_path: Path, project: Path, memoise: Callable[..., Path]
) -> None:
    # taskguard writes a memo as a file; a symlink where one may be was planted (in a shared
    # directory, by anyone) and could point at any file of the user, of any size.
    memo = memoise(project)
    kept = tmp_path / "kept.bin"
    memo.rename(kept)
    memo.symlink_to(kept)
    assert_not_replayed(project)


def test_a_config_symlink_retargeted_during_the_run_is_not_memoised(
    tmp_path: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The run reads the policy through --config's symlink; retargeted before the memo is
    # stored (both files old, the link outside every directory the walk stamps), the memo
    # must not pair the policy the run read with the link's new target.
    (project / "first.toml").write_text('[tool.taskguard]\nroot-packages = ["app"]\n')
    (project / "second.toml").write_text(
        '[tool.taskguard]\nroot-packages = ["app"]\nprotected = ["app.domain"]\n'
    )
    links = tmp_path / "links"
    links.mkdir()
    link = links / "taskguard.toml"
    link.symlink_to(project / "first.toml")
    args = [*ARGS, "--config", str(link)]
    monkeypatch.chdir(project)
    monkeypatch.setattr(_memo, "RACY_NS", 0)
    _cli.main(args)  # creates the cache directory
    store = _memo.store

    def retarget_then_store(*a: object, **k: object) -> bool:
        link.unlink()
        link.symlink_to(project / "second.toml")
        return store(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(_memo, "store", retarget_then_store)
    _cli.main(args)
    capsys.readouterr()
    out = run_cli(args, project)
    expected = fresh(project, args)
    assert (out.returncode, out.stdout) == (expected.returncode, expected.stdout)
    assert "app/domain/models.py" in expected.stdout
    # The control: a run through the symlink that stays put is memoised.
    monkeypatch.setattr(_memo, "store", store)
    for memo in memo_files(project):
        memo.unlink()
    _cli.main(args)
    capsys.readouterr()
    assert len(memo_files(project)) == 1


@pytest.mark.parametrize("what", ["policy", "baseline"])
def test_a_file_swapped_for_an_old_one_during_the_run_is_not_memoised(
    tmp_path: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    what: str,
) -> None:
    # The policy (or baseline) the run read is replaced, before the memo is stored, by a
    # symlink to an older file: every stamp the memo could take then is old, and the
    # directory holding it is not walked (only app/ is given). The memo must compare with
    # what the run read, not with what is there when it is stored.
    if what == "baseline":
        assert run_cli(["check", "--write-baseline"], project).returncode == 0
        name = "taskguard-baseline.json"
        other = '{\n  "version": 1,\n  "violations": []\n}\n'
    else:
        name = "pyproject.toml"
        other = '[tool.taskguard]\nroot-packages = ["app"]\nprotected = ["app.domain"]\n'
    older = tmp_path / "older"
    older.write_text(other, encoding="utf-8")
    os.utime(older, ns=(10**18, 10**18))
    args = [*ARGS, "app"]
    monkeypatch.chdir(project)
    monkeypatch.setattr(_memo, "RACY_NS", 0)
    _cli.main(args)  # creates the cache directory
    store = _memo.store

    def swap_then_store(*a: object, **k: object) -> bool:
        (project / name).unlink()
        (project / name).symlink_to(older)
        return store(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(_memo, "store", swap_then_store)
    _cli.main(args)
    capsys.readouterr()
    out = run_cli(args, project)
    expected = fresh(project, args)
    assert (out.returncode, out.stdout, out.stderr) == (
        expected.returncode,
        expected.stdout,
        expected.stderr,
    )


@pytest.mark.parametrize("given", [[], ["app/api"], ["app/api/routers/ok.py"]])
def test_an_edit_outside_the_protected_packages_that_makes_a_chain_is_seen(
    tmp_path: Path, memoise: Callable[..., Path], given: list[str]
) -> None:
    # With indirect = true a file outside the paths given, and outside every protected
    # package, decides TG004 for the files reported: the memo stamps it too.
    files = {
        **FILES,
        "app/api/routers/ok.py": "from app.util import helpers\n",
        "app/util/helpers.py": "import json\n",
    }
    table = '[tool.taskguard]\nroot-packages = ["app"]\nindirect = true\n'
    root = write_project(tmp_path / "proj", files, table=table)
    args = [*ARGS, *given]
    memoise(root, args)
    assert run_cli(args, root).stdout == SENTINEL
    same_size_edit(root / "app/util/helpers.py", "import httpx")
    assert_not_replayed(root, args)
    assert "TG004" in run_cli(args, root).stdout


def test_a_path_retargeted_between_the_policy_search_and_the_walk_is_not_memoised(
    tmp_path: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The first path given is a symlink: the run looks for the policy from its target, then
    # walks through it. Retargeted in between (to a tree no pyproject.toml covers), the run
    # judged the new target by the old policy, which a fresh run never does (it finds no
    # policy there, and no file of the project: exit 2).
    routers = project / "app/api/routers"
    elsewhere = tmp_path / "elsewhere" / "routers"
    shutil.copytree(routers, elsewhere)
    link = project / "app/api/current"
    link.symlink_to(routers, target_is_directory=True)
    args = [*ARGS, "app/api/current"]
    monkeypatch.chdir(project)
    monkeypatch.setattr(_memo, "RACY_NS", 0)
    _cli.main(args)  # creates the cache directory
    from taskguard._static import run

    scope = run._scope

    def retarget_then_walk(*a: Any, **k: Any) -> Any:
        link.unlink()
        link.symlink_to(elsewhere, target_is_directory=True)
        return scope(*a, **k)

    monkeypatch.setattr(run, "_scope", retarget_then_walk)
    _cli.main(args)
    capsys.readouterr()
    out = run_cli(args, project)
    expected = fresh(project, args)
    assert (out.returncode, out.stdout, out.stderr) == (
        expected.returncode,
        expected.stdout,
        expected.stderr,
    )


def test_a_taskguard_source_edited_during_the_run_is_seen(
    tmp_path: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The run's report comes from the code it started with: its memo is keyed on the stamps
    # of taskguard's sources then, so an edit during the run (a pull in a checkout, an
    # upgrade) is a new key, not a memo of the old code's report under the new code.
    package = tmp_path / "taskguard"
    shutil.copytree(Path(_memo.PACKAGE), package)
    monkeypatch.setattr(_memo, "PACKAGE", str(package))
    monkeypatch.chdir(project)
    monkeypatch.setattr(_memo, "RACY_NS", 0)
    _cli.main(ARGS)  # creates the cache directory
    from taskguard._static import run

    scope = run._scope

    def edit_then_walk(*a: Any, **k: Any) -> Any:
        with (package / "_report.py").open("a", encoding="utf-8") as fh:
            fh.write("\n# edited\n")
        return scope(*a, **k)

    monkeypatch.setattr(run, "_scope", edit_then_walk)
    _cli.main(ARGS)
    capsys.readouterr()
    stored_key = marshal.loads(memo_files(project)[0].read_bytes())[1]
    assert stored_key != _memo.key(ARGS)


def test_a_taskguard_source_edited_within_the_racy_window_is_never_memoised(
    tmp_path: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The CLI is imported before the key is taken: a source changed "just now" may not be
    # the code that ran (nor give another stamp when changed again).
    package = tmp_path / "taskguard"
    shutil.copytree(Path(_memo.PACKAGE), package)
    cli = package / "_cli.py"
    os.utime(cli, ns=(cli.stat().st_atime_ns, 2**62))
    monkeypatch.setattr(_memo, "PACKAGE", str(package))
    monkeypatch.chdir(project)
    monkeypatch.setattr(_memo, "RACY_NS", 0)
    for _ in range(2):
        _cli.main(ARGS)
    capsys.readouterr()
    assert memo_files(project) == []
    # The control: the same sources, settled, are memoised.
    os.utime(cli, ns=(cli.stat().st_atime_ns, 10**18))
    _cli.main(ARGS)
    capsys.readouterr()
    assert len(memo_files(project)) == 1


def test_a_run_in_a_removed_working_directory_is_an_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    # The memo's key holds the working directory: when there is none, nothing is memoised
    # and the run says what is wrong.
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (
        "import os, subprocess, sys; os.chdir(sys.argv[1]); os.rmdir(sys.argv[1]); "
        "r = subprocess.run([sys.argv[2], 'check'], capture_output=True, text=True); "
        "print(r.returncode); print(r.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(gone), SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    returncode, _, stderr = out.stdout.partition("\n")
    assert returncode == "2"
    assert "Traceback" not in stderr
    assert stderr.startswith("taskguard: error: ")
    assert "the working directory does not exist any more" in stderr


def test_a_closed_standard_output_is_said_on_stderr_and_the_exit_code_stands(
    project: Path, memoise: Callable[..., Path]
) -> None:
    # `taskguard check >&-`: the verdict is the exit code, replayed and fresh alike; the
    # report that had nowhere to go is said on standard error, not as a traceback.
    memoise(project)
    code = (
        "import os, subprocess, sys\n"
        "for extra in ([], ['--no-cache']):\n"
        "    r = subprocess.run([sys.argv[1], *sys.argv[3:], *extra], cwd=sys.argv[2],\n"
        "                       stderr=subprocess.PIPE, text=True,\n"
        "                       preexec_fn=lambda: os.close(1))\n"
        "    print(r.returncode, repr(r.stderr))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, SCRIPT, str(project), *ARGS],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        returncode, _, stderr = line.partition(" ")
        assert returncode == "1"
        assert "Traceback" not in stderr
        assert "standard output is closed: the report was not written" in stderr
