"""The pytest plugin's start-up stays light: a session loads only what installing the guard
needs. Checked in a fresh pytest process each (pytester, subprocess), the way pytest loads
the plugin (the ``pytest11`` entry point), by the modules the session ended with."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

PYPROJECT = """
[tool.taskguard]
root-packages = ["app"]
protected = ["app.api"]
forbidden-in-protected = ["fakehttp"]

[tool.pytest.ini_options]
pythonpath = ["."]
addopts = ["--strict-markers", "--strict-config", "-p", "no:cacheprovider"]
filterwarnings = ["error"]
"""

FILES = {
    "app/__init__.py": "",
    "app/api/__init__.py": "def answer():\n    return 42\n",
    "tests/test_app.py": """
        from app.api import answer

        def test_answer():
            assert answer() == 42
    """,
    # The modules loaded when the session ends, everything it ran included.
    "conftest.py": """
        import json
        import sys

        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_sessionfinish(session):
            with open("modules.json", "w") as fh:
                json.dump(sorted(sys.modules), fh)
    """,
}

# What a session without the check item never needs: the static checker and what only it
# uses, the CLI, `taskguard run`'s pieces, and the rarely used parts of the
# policy (an allow entry's class, dispatch-distributions' metadata reader).
NOT_AT_STARTUP = (
    "taskguard._static",
    "taskguard._baseline",
    "taskguard._report",
    "taskguard._cache",
    "taskguard._memo",
    "taskguard._cli",
    "taskguard._run",
    "taskguard._pyargv",
    "taskguard._init",
    "taskguard._listing",
    "taskguard._version",
    "taskguard._allow",
    "taskguard._distributions",
)
# What installing the guard does need (the probe saw a real session, not an empty one).
AT_STARTUP = ("taskguard.pytest_plugin", "taskguard._policy", "taskguard._hook.guard")


@pytest.fixture(autouse=True)
def _lean_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)


def session_modules(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, set[str]]:
    (pytester.path / "pyproject.toml").write_text(PYPROJECT)
    for rel, text in FILES.items():
        path = pytester.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    lean = ("-p", "no:hypothesispytest", "-p", "no:dispatch", "-p", "no:anyio")
    result = pytester.runpytest_subprocess(*lean, *args, timeout=120)
    modules = set(json.loads((pytester.path / "modules.json").read_text()))
    return result, modules


def loaded(modules: set[str], name: str) -> list[str]:
    return sorted(m for m in modules if m == name or m.startswith(f"{name}."))


@pytest.mark.parametrize(
    "args", [("--no-taskguard-check",), ("-o", "taskguard_check=false")], ids=["flag", "ini"]
)
def test_a_session_without_the_check_item_loads_none_of_it(
    pytester: pytest.Pytester, args: tuple[str, ...]
) -> None:
    result, modules = session_modules(pytester, *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["taskguard: runtime guard on (mode error)*"])
    for name in AT_STARTUP:
        assert name in modules, name
    assert "app.api" in modules  # the test ran, under the guard
    unexpected = {name: loaded(modules, name) for name in NOT_AT_STARTUP}
    assert {name: found for name, found in unexpected.items() if found} == {}


def test_the_check_item_loads_the_checker_when_it_runs(pytester: pytest.Pytester) -> None:
    # The probe's counterpart: the default session (a [tool.taskguard] table) runs the item.
    result, modules = session_modules(pytester)
    result.assert_outcomes(passed=2)
    assert "taskguard._static" in modules
    assert "taskguard._report" in modules


def test_the_lazy_names_still_resolve(pytester: pytest.Pytester) -> None:
    # Every name that moved out of a start-up module is still reachable where it was.
    script = pytester.makepyfile(
        probe="""
        import dataclasses
        import sys

        import taskguard
        import taskguard._policy as policy
        import taskguard.pytest_plugin as plugin

        lazy = ("taskguard._allow", "taskguard._distributions")
        assert not [name for name in lazy if name in sys.modules]
        from taskguard._allow import AllowEntry
        from taskguard._distributions import distribution_packages
        from taskguard._version import __version__

        assert policy.AllowEntry is AllowEntry is taskguard.AllowEntry
        assert policy.distribution_packages is distribution_packages
        assert taskguard.__version__ == __version__
        assert policy.Verdict is taskguard.Verdict
        assert dataclasses.is_dataclass(AllowEntry)
        for module, name in ((policy, "nothing"), (taskguard, "nothing")):
            try:
                getattr(module, name)
            except AttributeError as exc:
                assert name in str(exc), exc
            else:
                raise AssertionError(f"{module.__name__}.{name} resolved")
        print("RESOLVED")
        """
    )
    result = pytester.run(sys.executable, str(script), timeout=60)
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["RESOLVED"])
