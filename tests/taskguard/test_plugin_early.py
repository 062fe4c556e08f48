"""The plugin installs the guard while pytest registers it, before any other plugin's
``pytest_load_initial_conftests``: proven with real pytest-django, whose ``django.setup()``
imports every app of the project there. What is imported before the guard anyway must be
acknowledged in error mode. Each run is a pytester subprocess."""

from __future__ import annotations

import pytest

from tests.taskguard.hookcases._django_project import DJANGO_FIRST, FILES, PYPROJECT
from tests.taskguard.test_plugin import make_project, run

DJANGO_FILES = {
    **FILES,
    "tests/test_views.py": """
        import sys

        from shop import views

        def test_views_module_was_imported_by_django_setup():
            assert "shop.views" in sys.modules
            assert type(vars(views)["__builtins__"]).__name__ == "_GuardedBuiltins"

        def test_refresh(rf):
            assert views.refresh(rf.get("/")).content == b"fakehttp"

        def test_refresh_or_fallback(rf):
            assert views.refresh_or_fallback(rf.get("/")).content == b"fallback"
    """,
}


@pytest.mark.parametrize(
    "order",
    [
        "entry points",
        # another plugin, registered after taskguard, whose tryfirst
        # pytest_load_initial_conftests calls django.setup(): it runs before taskguard's
        "django.setup() in a tryfirst hook",
    ],
)
def test_pytest_django_apps_are_guarded(pytester: pytest.Pytester, order: str) -> None:
    pytest.importorskip("pytest_django")
    make_project(pytester, DJANGO_FILES)
    (pytester.path / "pyproject.toml").write_text(PYPROJECT)
    if order == "entry points":
        result = run(pytester, "-p", "django")
    else:
        (pytester.path / "djangofirst.py").write_text(DJANGO_FIRST)
        pytester._monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        result = run(
            pytester,
            *("-p", "taskguard.pytest_plugin", "-p", "pytest_django.plugin"),
            *("-p", "djangofirst"),
        )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*ForbiddenImportError: TG002: shop.views may not import fakehttp at "
            "*shop/views.py:4; dispatch background work with dispatch.enqueue_http_task() "
            "instead",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*taskguard: forbidden import during call, swallowed before it reached this test:",
            "*TG002 shop.views imports fakehttp at *shop/views.py:9",
        ]
    )
    assert "imported before the guard" not in result.stdout.str()


def test_mode_from_the_command_line_is_settled(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        {
            "tests/test_mode.py": """
                from taskguard._hook import active_guard
                import app.api.routers as routers

                def test_mode():
                    guard = active_guard()
                    print("MODE", None if guard is None else guard.mode)
                    routers.swallow()
            """
        },
    )
    # the default (the policy's mode): error, the swallowed import fails the test
    result = run(pytester, "-s")
    result.stdout.fnmatch_lines(["*MODE error*"])
    result.assert_outcomes(failed=1)
    for args, env in (
        (("-s", "--taskguard-mode=warn"), None),
        (("-s", "--taskguard-mode", "warn"), None),
        (("-s",), "--taskguard-mode=warn"),
        (("-s", "-o", "taskguard_mode=warn"), None),
    ):
        if env is not None:
            pytester._monkeypatch.setenv("PYTEST_ADDOPTS", env)
        result = run(pytester, *args)
        pytester._monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
        result.stdout.fnmatch_lines(["*MODE warn*"])
        result.assert_outcomes(passed=1)
    result = run(pytester, "-s", "--taskguard-mode=off")
    result.stdout.fnmatch_lines(["taskguard: runtime guard off", "*MODE None*"])
    result.assert_outcomes(passed=1)


def test_unguarded_modules_acknowledged_in_the_ini(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        {"app/plugin.py": "import app.api\n", "tests/test_ok.py": "def test_ok():\n    pass\n"},
        ini='taskguard_check = false\ntaskguard_unguarded = ["app: our own plugin, loaded by -p"]',
    )
    result = run(pytester, "-p", "app.plugin")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["taskguard: 3 first-party modules imported before the guard, not guarded: *"]
    )
    assert "not acknowledged" not in result.stdout.str()

    # acknowledging part of them is not enough
    make_project(
        pytester,
        {"app/plugin.py": "import app.api\n", "tests/test_ok.py": "def test_ok():\n    pass\n"},
        ini='taskguard_check = false\ntaskguard_unguarded = ["app.plugin: loaded by -p"]',
    )
    result = run(pytester, "-p", "app.plugin")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["taskguard: not acknowledged in taskguard_unguarded: app, app.api*"]
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("app.plugin", "a reason is required"),
        ("app.plugin:   ", "a reason is required"),
        (": why", "a module pattern is required"),
    ],
)
def test_malformed_acknowledgement_is_a_usage_error(
    pytester: pytest.Pytester, line: str, problem: str
) -> None:
    make_project(
        pytester,
        {"tests/test_ok.py": "def test_ok():\n    pass\n"},
        ini=f"taskguard_check = false\ntaskguard_unguarded = [{line!r}]",
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*taskguard_unguarded: {line!r}: {problem}*"])


def test_typeguard_pytest_plugin_hook_in_front(pytester: pytest.Pytester) -> None:
    # typeguard's own plugin puts its import hook at sys.meta_path[0] in pytest_configure;
    # the modules it instruments are guarded all the same.
    pytest.importorskip("typeguard")
    make_project(
        pytester,
        {
            "conftest.py": "import fakehttp  # loaded: only the module's builtins refuse it\n",
            "app/api/routers/typed.py": """
                def lazy(x: int) -> int:
                    import fakehttp
                    return x
            """,
            "tests/test_typed.py": """
                import pytest
                from typeguard import TypeCheckError
                from taskguard import ForbiddenImportError
                from app.api.routers import typed

                def test_instrumented():
                    with pytest.raises(TypeCheckError):
                        typed.lazy("not an int")

                def test_guarded():
                    typed.lazy(1)
            """,
        },
    )
    result = run(pytester, "-p", "typeguard", "--typeguard-packages=app")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*ForbiddenImportError: TG002: app.api.routers.typed may not import fakehttp at *"]
    )
