"""Issue #11, part 2, as a demanding user: plugins that import first-party code before the
taskguard plugin could install the guard (an entry-point plugin of another distribution
loaded first, a ``-p`` plugin), how that is reported and acknowledged, and bad values of
the acknowledgement option. Each run is a pytester subprocess."""

from __future__ import annotations

import pytest

from tests.taskguard.test_plugin import make_project, run

OK_TEST = {"tests/test_ok.py": "def test_ok():\n    pass\n"}


def add_entry_point_plugin(pytester: pytest.Pytester, module: str) -> None:
    """A distribution in the project directory (first on sys.path, so its entry points
    come before taskguard's) whose pytest11 plugin is ``module``."""
    info = pytester.path / "earlyplugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: earlyplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[pytest11]\nearly = {module}\n")


def test_entry_point_plugin_before_taskguard_is_reported_and_fails(
    pytester: pytest.Pytester,
) -> None:
    make_project(pytester, {**OK_TEST, "earlyplug.py": "import app.api.routers\n"})
    add_entry_point_plugin(pytester, "earlyplug")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "taskguard: 3 first-party modules imported before the guard, not guarded: *",
            "taskguard: not acknowledged in taskguard_unguarded: app, app.api, app.api.routers*",
        ]
    )


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--collect-only",), id="collect-only"),
        pytest.param(("-k", "nothing_matches"), id="no-test-selected"),
        pytest.param(("-qq",), id="quiet"),
    ],
)
def test_unacknowledged_early_import_fails_whatever_runs(
    pytester: pytest.Pytester, args: tuple[str, ...]
) -> None:
    make_project(pytester, {**OK_TEST, "earlyplug.py": "import app.api.routers\n"})
    result = run(pytester, "-p", "earlyplug", *args)
    # exit 5 (no tests) would pass in CI scripts that accept it: the guard's failure wins
    assert result.ret == pytest.ExitCode.TESTS_FAILED, (result.ret, result.stdout.str())


def test_warn_mode_reports_without_failing(pytester: pytest.Pytester) -> None:
    make_project(pytester, {**OK_TEST, "earlyplug.py": "import app.api.routers\n"})
    result = run(pytester, "-p", "earlyplug", "--taskguard-mode=warn")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["taskguard: 3 first-party modules imported before the guard, not guarded: *"]
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["app..api: why"]', "*taskguard_unguarded: 'app..api: why': *"),
        ('["app.api"]', "*taskguard_unguarded: 'app.api': a reason is required*"),
        ('["app.x-y: why"]', "*taskguard_unguarded: 'app.x-y: why': malformed pattern*"),
        ('["app api: why"]', "*taskguard_unguarded: 'app api: why': *"),
    ],
)
def test_bad_acknowledgements_are_usage_errors(
    pytester: pytest.Pytester, value: str, expected: str
) -> None:
    make_project(pytester, OK_TEST, ini=f"taskguard_check = false\ntaskguard_unguarded = {value}")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([expected])
    assert "Traceback" not in result.stderr.str()


def test_acknowledgement_in_an_ini_file_line_form(pytester: pytest.Pytester) -> None:
    make_project(pytester, {**OK_TEST, "earlyplug.py": "import app.api.routers\n"})
    (pytester.path / "pytest.ini").write_text(
        "[pytest]\npythonpath = .\ntaskguard_check = false\n"
        "taskguard_unguarded =\n    app: loaded by our own -p plugin\n"
    )
    result = run(pytester, "-p", "earlyplug")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
