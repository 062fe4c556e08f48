"""The pytest plugin, run by pytest itself (pytester, in a subprocess each: the guard is
process-wide, so an in-process run would share this session's guard)."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

PYPROJECT = """
[tool.taskguard]
root-packages = ["app"]
sanctioned = ["app.infrastructure.tasks_client"]
dispatch-modules = ["fakecloud.tasks"]
protected = ["app.api.routers"]
forbidden-in-protected = ["fakehttp"]

[tool.pytest.ini_options]
pythonpath = ["."]
addopts = ["--strict-markers", "--strict-config", "-p", "no:cacheprovider"]
filterwarnings = ["error"]
{extra}
"""

APP = {
    "app/__init__.py": "",
    "app/api/__init__.py": "",
    "app/api/routers/__init__.py": """
        def lazy():
            import fakehttp
            return fakehttp

        def swallow():
            try:
                import fakehttp
            except ImportError:
                return "fallback"
    """,
    "app/infrastructure/__init__.py": "",
    "app/infrastructure/tasks_client.py": "from fakecloud import tasks\n",
    "fakehttp/__init__.py": "NAME = 'fakehttp'\n",
    "fakecloud/__init__.py": "",
    "fakecloud/tasks.py": "",
}


def make_project(
    pytester: pytest.Pytester, files: dict[str, str], *, ini: str = "taskguard_check = false"
) -> Path:
    (pytester.path / "pyproject.toml").write_text(PYPROJECT.format(extra=ini))
    for rel, text in {**APP, **files}.items():
        path = pytester.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return pytester.path


@pytest.fixture(autouse=True)
def _lean_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bytecode is written as usual instead of recompiling taskguard in every run.
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Unrelated plugins of this venv stay out: hypothesis alone costs seconds per start.
    lean = ("-p", "no:hypothesispytest", "-p", "no:dispatch", "-p", "no:anyio")
    return pytester.runpytest_subprocess("-rA", *lean, *args, timeout=120)


def test_violations_fail_their_tests_raised_or_swallowed(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        {
            "tests/test_app.py": """
                import pytest
                import threading
                from taskguard import ForbiddenImportError
                import app.api.routers as routers

                def test_clean():
                    import app.infrastructure.tasks_client

                def test_raised():
                    routers.lazy()

                def test_swallowed():
                    for _ in range(500):
                        assert routers.swallow() == "fallback"

                def test_swallowed_in_a_thread():
                    thread = threading.Thread(target=routers.swallow)
                    thread.start()
                    thread.join()

                def test_expected_by_the_test():
                    with pytest.raises(ForbiddenImportError) as caught:
                        routers.lazy()
                    assert caught.value.code == "TG002"

                @pytest.fixture
                def swallowing_fixture():
                    routers.swallow()
                    yield

                def test_in_fixture_setup(swallowing_fixture):
                    pass

                @pytest.mark.taskguard_allow("fakehttp", reason="probes the upstream API")
                def test_allowed_by_marker():
                    assert routers.lazy().NAME == "fakehttp"

                def test_marker_ended_with_its_test():
                    routers.lazy()

                @pytest.mark.taskguard_allow("fakehttp")
                def test_marker_without_reason():
                    pass

                @pytest.mark.taskguard_allow("fakehttp", reasn="typo")
                def test_marker_unknown_keyword():
                    pass

                @pytest.mark.taskguard_allow("fakehtp", reason="a typo allows nothing")
                def test_marker_allowing_nothing():
                    pass

                @pytest.mark.taskguard_allow("fakehttp", "no such pattern!", reason="x")
                def test_marker_bad_pattern():
                    pass

                @pytest.fixture
                def swallowing_teardown():
                    yield
                    routers.swallow()

                def test_in_fixture_teardown(swallowing_teardown):
                    pass

                @pytest.fixture(scope="session")
                def session_resource():
                    yield
                    routers.lazy()

                def test_uses_session_resource(session_resource):
                    pass
            """
        },
    )
    result = run(pytester)
    result.assert_outcomes(passed=5, failed=4, errors=7)
    result.stdout.fnmatch_lines(
        [
            "taskguard: runtime guard on (mode error), enforcing 1 protected pattern and "
            "1 dispatch-module pattern",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_swallowed _*",
            "taskguard: forbidden import during call, swallowed before it reached this test:",
            "  TG002 app.api.routers imports fakehttp at */app/api/routers/__init__.py:7",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*= taskguard: 2 forbidden imports (mode error) =*",
            "TG002 app.api.routers imports fakehttp at */__init__.py:2  [[]tests/test_app.py::"
            "test_raised, tests/test_app.py::test_expected_by_the_test, "
            "tests/test_app.py::test_marker_ended_with_its_test, "
            "tests/test_app.py::test_uses_session_resource[]]",
            "TG002 app.api.routers imports fakehttp at */__init__.py:7  [[]tests/test_app.py::"
            "test_swallowed, tests/test_app.py::test_swallowed_in_a_thread, "
            "tests/test_app.py::test_in_fixture_setup, "
            "tests/test_app.py::test_in_fixture_teardown[]]",
        ]
    )
    outcomes = {
        line.split(" ")[1].split("::")[-1]: line.split(" ")[0]
        for line in result.outlines
        if line.startswith(("PASSED ", "FAILED ", "ERROR "))
    }
    assert outcomes == {
        "test_clean": "PASSED",
        "test_raised": "FAILED",
        "test_swallowed": "FAILED",
        "test_swallowed_in_a_thread": "FAILED",
        "test_expected_by_the_test": "PASSED",
        "test_in_fixture_setup": "ERROR",
        "test_allowed_by_marker": "PASSED",
        "test_marker_ended_with_its_test": "FAILED",
        "test_marker_without_reason": "ERROR",
        "test_marker_unknown_keyword": "ERROR",
        "test_marker_allowing_nothing": "ERROR",
        "test_marker_bad_pattern": "ERROR",
        # teardown errors come after the test's own (passing) report
        "test_in_fixture_teardown": "ERROR",
        "test_uses_session_resource": "ERROR",
    }
    usage = "*taskguard: usage error: @pytest.mark.taskguard_allow"
    result.stdout.fnmatch_lines(
        [
            f"{usage}('fakehttp'): a non-empty reason= is required",
            'usage: @pytest.mark.taskguard_allow("httpx", reason="why this test may import it")',
        ]
    )
    result.stdout.fnmatch_lines(
        [f"{usage}('fakehttp', reasn='typo'): unknown keyword argument 'reasn' *"]
    )
    result.stdout.fnmatch_lines(
        [
            f"{usage}('fakehtp', reason=*): 'fakehtp' matches no dispatch-modules or "
            "forbidden-in-protected pattern of the policy, so there is nothing to allow; did "
            "you mean 'fakehttp'?"
        ]
    )
    result.stdout.fnmatch_lines(["*malformed pattern 'no such pattern!'*"])
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_in_fixture_teardown _*",
            "taskguard: forbidden import during teardown, swallowed before it reached this test:",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*_ ERROR at teardown of test_uses_session_resource _*", "*ForbiddenImportError*"]
    )


def test_collection_and_conftest_violations_are_collection_errors(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        {
            "app/api/routers/eager.py": "import fakehttp\n",
            "app/api/routers/fallback.py": """
                try:
                    import fakehttp
                except ImportError:
                    fakehttp = None
            """,
            "tests/test_eager.py": "import app.api.routers.eager\n\ndef test_x():\n    pass\n",
            "tests/test_fallback.py": (
                "import app.api.routers.fallback\n\ndef test_y():\n    pass\n"
            ),
            "tests/test_fine.py": "def test_z():\n    pass\n",
        },
    )
    result = run(pytester, "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting tests/test_eager.py*",
            "*ForbiddenImportError: TG002: app.api.routers.eager may not import fakehttp at "
            "*eager.py:1; dispatch background work with dispatch.enqueue_http_task() instead",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting tests/test_fallback.py*",
            "taskguard: forbidden import during collection, swallowed before it reached this test:",
            "  TG002 app.api.routers.fallback imports fakehttp at *fallback.py:2",
        ]
    )

    # A conftest that imports it: the run stops and names the import.
    (pytester.path / "conftest.py").write_text("import app.api.routers.eager\n")
    result = run(pytester)
    assert result.ret != 0
    result.stderr.fnmatch_lines(
        ["*ForbiddenImportError: TG002: app.api.routers.eager may not import fakehttp*"]
    )


def test_modes_warn_and_off(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        {
            "tests/test_app.py": """
                import app.api.routers as routers

                def test_lazy():
                    assert routers.lazy().NAME == "fakehttp"

                def test_swallow():
                    for _ in range(2000):  # reported once, kept once
                        assert routers.swallow() is None
            """
        },
        ini='taskguard_check = false\ntaskguard_mode = "warn"',
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "taskguard: runtime guard on (mode warn)*",
            "*= taskguard: 2 forbidden imports (mode warn) =*",
            "TG002 app.api.routers imports fakehttp at *__init__.py:2  [[]tests/test_app.py::"
            "test_lazy[]]",
        ]
    )
    # the log event, captured by pytest for the test that made it
    result.stdout.fnmatch_lines(["*taskguard.forbidden_import*code=TG002*imported=fakehttp*"])

    result = run(pytester, "--taskguard-mode=off")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["taskguard: runtime guard off"])
    result.stdout.no_fnmatch_line("*forbidden import*")

    # with the plugin off its ini keys are unknown: --strict-config would refuse them
    (pytester.path / "pyproject.toml").write_text(PYPROJECT.format(extra=""))
    result = run(pytester, "-p", "no:taskguard")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("taskguard:*")

    result = run(pytester, "--taskguard-mode=loud")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--taskguard-mode: invalid choice: 'loud'*"])


def test_usage_errors_name_the_option(pytester: pytest.Pytester) -> None:
    make_project(pytester, {"tests/test_ok.py": "def test_ok():\n    pass\n"}, ini="")
    for args, message in (
        (("-o", "taskguard_mode=bogus"), "ERROR: taskguard_mode must be error, warn or off, *"),
        (
            ("-o", "taskguard_check=maybe"),
            "ERROR: taskguard_check must be true or false: invalid truth value 'maybe'",
        ),
        (("-o", "taskguard_mod=warn"), "ERROR: Unknown config option: taskguard_mod"),
        (("--taskguard-mode=bogus",), "*--taskguard-mode: invalid choice: 'bogus'*"),
    ):
        # in-process: each stops while configuring, before the guard would be installed
        result = pytester.runpytest_inprocess(*args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, (args, result.stderr.str())
        result.stderr.fnmatch_lines([message])

    # an invalid policy stops the run before anything is collected, naming the key
    (pytester.path / "pyproject.toml").write_text(
        PYPROJECT.format(extra="").replace("protected =", "protectd =")
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: taskguard: invalid [[]tool.taskguard[]] configuration in *pyproject.toml:",
            "  protectd: unknown key; did you mean 'protected'?",
        ]
    )


def test_unconfigure_restores_the_import_system_exactly(pytester: pytest.Pytester) -> None:
    # pytest.main() in a fresh interpreter: sys.meta_path before and after the run is the
    # same list of the same objects, and no guard is left active.
    make_project(
        pytester,
        {
            "tests/test_guarded.py": """
                import sys
                import app.api.routers as routers

                def test_guard_is_on():
                    names = [type(finder).__name__ for finder in sys.meta_path]
                    assert names[0] == "_GuardFinder"
                    assert type(vars(routers)["__builtins__"]).__name__ == "_GuardedBuiltins"
            """,
        },
    )
    script = pytester.path / "drive.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import pytest

            args = ["-q", "-p", "no:hypothesispytest", "-p", "no:dispatch", "-p", "no:anyio",
                    "tests"]
            before = list(sys.meta_path)
            code = pytest.main(args)
            after = list(sys.meta_path)
            assert code == 0, code
            assert len(after) == len(before), (before, after)
            assert all(a is b for a, b in zip(before, after)), (before, after)
            from taskguard._hook import active_guard  # after pytest.main: it rewrites plugins
            assert active_guard() is None
            # a first-party module imported now is not guarded
            del sys.modules["app.api.routers"]
            import app.api.routers
            assert type(vars(app.api.routers)["__builtins__"]).__name__ == "dict"
            print("RESTORED", len(before))
            """
        )
    )
    result = pytester.run(sys.executable, str(script), timeout=120)
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["RESTORED *"])
    result.stdout.fnmatch_lines(["1 passed*"])


def test_static_check_item(pytester: pytest.Pytester) -> None:
    root = make_project(pytester, {"tests/test_ok.py": "def test_ok():\n    pass\n"}, ini="")
    past = time.time() - 60  # files written this instant are never cached (racy)
    for path in root.rglob("*.py"):
        os.utime(path, (past, past))
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ taskguard check _*",
            "app/api/routers/__init__.py:2:5: TG002 app.api.routers (protected by "
            "app.api.routers) imports forbidden fakehttp",
            "app/api/routers/__init__.py:7:9: TG002 *",
            "FAILED taskguard-check - *",
        ]
    )
    assert (pytester.path / ".taskguard_cache").is_dir()  # the check kept its cache

    run(pytester, "--no-taskguard-check").assert_outcomes(passed=1)
    run(pytester, "tests/test_ok.py::test_ok").assert_outcomes(passed=1)
    run(pytester, "-k", "test_ok").assert_outcomes(passed=1)

    # the check item passes once the project is clean
    (pytester.path / "app/api/routers/__init__.py").write_text("X = 1\n")
    run(pytester).assert_outcomes(passed=2)

    # without a [tool.taskguard] table there is no item unless asked for
    (pytester.path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\npythonpath = ["."]\naddopts = ["-p", "no:cacheprovider"]\n'
    )
    run(pytester).assert_outcomes(passed=1)
    run(pytester, "--taskguard-check").assert_outcomes(passed=2)


def test_static_check_item_uses_the_default_mode(pytester: pytest.Pytester) -> None:
    # The byte prefilter decides what is parsed: a syntax error in a file that cannot hold a
    # relevant import is not the import policy's business; one in a file that can is TG900.
    make_project(
        pytester,
        {
            "tests/test_ok.py": "def test_ok():\n    pass\n",
            "app/api/routers/__init__.py": "X = 1\n",
            "app/domain/__init__.py": "",
            "app/domain/broken.py": "def broken(:\n    pass\n",
        },
        ini="taskguard_check = true",
    )
    run(pytester).assert_outcomes(passed=2)
    (pytester.path / "app/api/routers/bad.py").write_text("import fakehttp\ndef f(:\n")
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["app/api/routers/bad.py:2:*: TG900 could not parse *"])
    assert "app/domain/broken.py" not in result.stdout.str()


def test_xdist_workers_report_to_the_controller(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        {
            "app/api/routers/eager.py": "import fakehttp\n",
            "tests/test_a.py": """
                import app.api.routers as routers

                def test_swallowed():
                    routers.swallow()

                def test_fine_a():
                    pass
            """,
            "tests/test_b.py": """
                import app.api.routers as routers

                def test_raised():
                    routers.lazy()

                def test_fine_b():
                    pass
            """,
            "tests/test_c.py": "import app.api.routers.eager\n\ndef test_c():\n    pass\n",
        },
    )
    result = run(pytester, "-n", "2", "--continue-on-collection-errors")
    result.assert_outcomes(passed=2, failed=2, errors=1)
    outcomes = {
        line.split(" ")[1]: line.split(" ")[0]
        for line in result.outlines
        if line.startswith(("PASSED ", "FAILED ", "ERROR "))
    }
    assert outcomes == {
        "tests/test_a.py::test_swallowed": "FAILED",
        "tests/test_a.py::test_fine_a": "PASSED",
        "tests/test_b.py::test_raised": "FAILED",
        "tests/test_b.py::test_fine_b": "PASSED",
        "tests/test_c.py": "ERROR",
    }
    result.stdout.fnmatch_lines(["*taskguard: forbidden import during call, swallowed*"])
    result.stdout.fnmatch_lines(
        ["*ForbiddenImportError: TG002: app.api.routers.eager may not import fakehttp*"]
    )
    result.stdout.fnmatch_lines(["*= taskguard: 3 forbidden imports (mode error) =*"])
    result.stdout.fnmatch_lines(
        [
            "TG002 app.api.routers imports fakehttp at *__init__.py:2  "
            "[[]tests/test_b.py::test_raised[]]"
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "TG002 app.api.routers imports fakehttp at *__init__.py:7  "
            "[[]tests/test_a.py::test_swallowed[]]"
        ]
    )
    result.stdout.fnmatch_lines(
        ["TG002 app.api.routers.eager imports fakehttp at *eager.py:1  [[]*"]
    )
    result.stdout.no_fnmatch_line("*with no test or collector running*")

    # swallowed in a worker when no test runs (a hook after the test's last report)
    (pytester.path / "conftest.py").write_text(
        "import os\n"
        "def pytest_runtest_logfinish(nodeid, location):\n"
        "    if os.environ.get('PYTEST_XDIST_WORKER'):  # in workers only\n"
        "        import app.api.routers\n"
        "        app.api.routers.swallow()\n"
    )
    result = run(pytester, "-n", "2", "tests/test_a.py::test_fine_a")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "taskguard: 1 forbidden import with no test or collector running to fail for it "
            "(swallowed): the run fails"
        ]
    )


def test_guard_stays_first_and_composes_with_assertion_rewriting(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        {
            # a test package inside the first-party tree: rewritten by pytest and guarded
            "app/tests/__init__.py": "",
            "app/tests/test_inside.py": """
                import sys
                import pytest
                from taskguard import ForbiddenImportError

                def test_finder_is_first():
                    names = [type(f).__name__ for f in sys.meta_path]
                    assert names[0] == "_GuardFinder"
                    assert "AssertionRewritingHook" in names

                def test_module_is_guarded_and_rewritten():
                    loader = sys.modules[__name__].__loader__
                    assert type(loader).__name__ == "_DelegatingLoader"
                    assert type(loader._taskguard_inner).__name__ == "AssertionRewritingHook"
                    assert type(__builtins__).__name__ == "_GuardedBuiltins"

                def test_rewritten_assert():
                    value = [1, 2]
                    assert value == [1, 3]

                def test_lazy_import_in_a_first_party_test_module():
                    with pytest.raises(ForbiddenImportError):
                        from fakecloud import tasks
            """,
            "app/api/routers/conftest.py": """
                import pytest

                @pytest.fixture
                def upstream():
                    import fakehttp
                    return fakehttp
            """,
            "app/api/routers/test_routes.py": "def test_route(upstream):\n    pass\n",
        },
    )
    for mode in ("prepend", "importlib"):
        result = run(pytester, f"--import-mode={mode}", "app")
        result.assert_outcomes(passed=3, failed=1, errors=1)
        result.stdout.fnmatch_lines(["*assert [[]1, 2[]] == [[]1, 3[]]*"])
        # a conftest inside a protected package is a guarded, protected module too
        result.stdout.fnmatch_lines(
            [
                "*_ ERROR at setup of test_route _*",
                "*ForbiddenImportError: TG002: app.api.routers.conftest may not import "
                "fakehttp at *conftest.py:5*",
            ]
        )


def test_early_first_party_plugin_is_reported_not_warned(pytester: pytest.Pytester) -> None:
    # filterwarnings = error must not turn "imported before the guard" into a crash
    make_project(
        pytester,
        {
            "app/plugin.py": "import app.api\n",
            "tests/test_ok.py": """
                import app.plugin

                def test_unguarded_module_is_not_guarded():
                    assert type(vars(app.plugin)["__builtins__"]).__name__ != "_GuardedBuiltins"
            """,
        },
    )
    result = run(pytester, "-p", "app.plugin")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "taskguard: 3 first-party modules imported before the guard, not guarded: "
            "app, app.api, app.plugin",
            "taskguard: not acknowledged in taskguard_unguarded: app, app.api, app.plugin "
            "(the run fails)",
            "*= taskguard: 3 first-party modules not guarded =*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # error mode: not acknowledged
    # warn mode reports the same and lets the run pass
    result = run(pytester, "-p", "app.plugin", "--taskguard-mode=warn")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["taskguard: not acknowledged in taskguard_unguarded: app, *"])


def test_nested_in_process_session_leaves_the_guard_alone(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        {
            "tests/test_outer.py": """
                import sys
                from taskguard._hook import active_guard

                pytest_plugins = ["pytester"]

                def test_inner_run(pytester):
                    guard = active_guard()
                    assert guard is not None
                    pytester.makepyfile(test_inner="def test_inner():\\n    pass\\n")
                    result = pytester.runpytest("-p", "no:cacheprovider")
                    result.assert_outcomes(passed=1)
                    result.stdout.fnmatch_lines(
                        ["taskguard: runtime guard installed outside this session (mode error)"]
                    )
                    assert active_guard() is guard
                    assert sys.meta_path[0] is guard._finder
            """
        },
    )
    run(pytester).assert_outcomes(passed=1)
