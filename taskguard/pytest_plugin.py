"""pytest plugin for taskguard (auto-enabled through the pytest11 entry point ``taskguard``).

It installs the runtime guard before conftest files are imported, keeps its finder in
front of pytest's assertion rewriter, fails the test (or the collector) whose code made a
forbidden import, raised or swallowed, and runs ``taskguard check`` as one collected item.
``-p no:taskguard`` turns it off; ``--taskguard-mode=off`` keeps the static check only.
"""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Generator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from taskguard import _hook
from taskguard._errors import ForbiddenImportError, PolicyError
from taskguard._imports import pattern_could_be_refused
from taskguard._policy import Policy, load_policy, matches, pattern_problem
from taskguard._rules import Violation

MARKER = "taskguard_allow"
CHECK_ITEM = "taskguard-check"
MODES = ("error", "warn", "off")
UNGUARDED_INI = "taskguard_unguarded"


# Errors kept per violation and phase to judge whether the test saw them; a loop that
# repeats one violation needs no more.
MAX_ERRORS = 20


class _State:
    """What the plugin knows in one pytest process (controller, worker or plain run)."""

    def __init__(self, config: pytest.Config, mode: str) -> None:
        self.config = config
        self.mode = mode
        self.policy: Policy | None = None
        self.guard: _hook.Guard | None = None
        self.owned = False
        # The program installed the guard (`taskguard run`'s bootstrap, or code that ran
        # pytest.main() under it) and no enclosing session listens to it: this session
        # enforces and reports it as its own, but leaves it installed and in its mode.
        self.adopted = False
        # Installed at plugin registration, before the command line was parsed: the
        # mode is settled (and "off" uninstalls it) once pytest knows it.
        self.settled = False
        # First-party modules imported before the guard that no taskguard_unguarded
        # line acknowledges (with the workers' ones, under pytest-xdist).
        self.unacknowledged: dict[str, None] = {}
        # First-party modules loaded during the session that run with the real builtins
        # (an import hook in front of the guard that does not run them through exec), not
        # acknowledged either: said and judged at the end.
        self.escaped: dict[str, None] = {}
        self.where = "<startup>"
        # every distinct violation and where it happened (an insertion-ordered set)
        self.seen: dict[tuple[Violation, str], None] = {}
        self.remote: list[tuple[Violation, str]] = []  # from pytest-xdist workers
        # Violations no report was there to fail (between tests, after a test's last
        # report, at startup): in error mode they fail the session.
        self.unjudged: dict[Violation, None] = {}
        self._pending: dict[Violation, list[ForbiddenImportError | None]] = {}
        self._lock = threading.Lock()

    def record(self, violation: Violation, error: ForbiddenImportError | None) -> None:
        with self._lock:
            self.seen.setdefault((violation, self.where), None)
            errors = self._pending.setdefault(violation, [])
            if len(errors) < MAX_ERRORS:
                errors.append(error)

    def drop(self) -> None:
        """Take what no report will judge."""
        for violation in self.take():
            self.unjudged.setdefault(violation, None)

    def take(self) -> dict[Violation, list[ForbiddenImportError | None]]:
        """The violations since the last call (one test phase, or one collector), each with
        the errors raised for it (``None`` in warn mode).

        This is the only reference to the raised errors, whose tracebacks keep frames
        alive: they go as soon as the phase is judged.
        """
        if not self._pending:
            return {}  # the usual case, once per test phase: no lock needed to see it
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending

    @property
    def enforcing(self) -> bool:
        return (self.owned or self.adopted) and self.mode == "error"


# The guards a session in this process listens to: a nested session (pytester in-process)
# leaves a claimed guard to the session that claimed it.
_claimed: list[_hook.Guard] = []


def _claim(state: _State, guard: _hook.Guard) -> None:
    _hook.add_listener(guard, state.record)
    _claimed.append(guard)


def _release(state: _State, guard: _hook.Guard) -> None:
    _hook.remove_listener(guard, state.record)
    for index, claimed in enumerate(_claimed):
        if claimed is guard:
            del _claimed[index]
            break


_STATE = pytest.StashKey[_State]()
_ALLOWANCES = pytest.StashKey[ExitStack]()


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("taskguard", "taskguard: runtime import guard and static check")
    group.addoption(
        "--taskguard-mode",
        choices=MODES,
        default=None,
        dest="taskguard_mode",
        help="error: a forbidden import fails its test; warn: log and report it; "
        "off: no runtime guard (default: ini taskguard_mode, else [tool.taskguard] mode)",
    )
    group.addoption(
        "--taskguard-check",
        action="store_true",
        default=None,
        dest="taskguard_check",
        help="run `taskguard check` as one test item (default: ini taskguard_check)",
    )
    group.addoption(
        "--no-taskguard-check",
        action="store_false",
        dest="taskguard_check",
        help="do not run `taskguard check` as a test item",
    )
    parser.addini(
        "taskguard_mode",
        "taskguard runtime guard mode: error, warn or off (default: the policy's mode)",
        default="",
    )
    parser.addini(
        "taskguard_check",
        "run `taskguard check` as one test item in projects with a [tool.taskguard] table",
        type="bool",
        default=True,
    )
    parser.addini(
        UNGUARDED_INI,
        "first-party modules (dotted patterns) known to be imported before the guard (or run "
        "unguarded by an import hook in front of it), one "
        "'pattern: reason' per line; in error mode any other such module fails the run",
        type="linelist",
        default=[],
    )
    _start_early(pluginmanager)


def _start_early(pluginmanager: pytest.PytestPluginManager) -> None:
    """Install the guard now, while pytest registers this plugin (its ``pytest_addoption``
    runs then): before any other plugin's ``pytest_load_initial_conftests`` (pytest-django's
    ``django.setup()``), whatever their ``tryfirst``. The ini file is read already; the
    command line is not parsed yet, so the mode is read from the arguments as they are
    and settled in :func:`_start`."""
    config = pluginmanager.get_plugin("pytestconfig")
    if not isinstance(config, pytest.Config) or _STATE in config.stash:
        return
    if _hook.active_guard() is not None:
        return  # a nested session, or the program's own guard: _start takes it from there
    try:
        rootpath = config.rootpath
        mode = _early_mode(config)
    except (AttributeError, ValueError, pytest.UsageError):
        return  # registered before the ini was read, or bad values: _start says so
    if mode not in (None, "error", "warn"):
        return
    try:
        policy = load_policy(rootpath)
    except PolicyError:
        return  # _start turns it into a usage error
    state = _State(config, mode or policy.mode)
    config.stash[_STATE] = state
    _own(state, policy, mode)


def _early_mode(config: pytest.Config) -> str | None:
    """``--taskguard-mode`` as the arguments pytest will parse say (ini ``addopts``, then
    ``PYTEST_ADDOPTS``, then the command line: the last one wins), else the ini value."""
    args = [
        *config.getini("addopts"),
        *shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
        *config.invocation_params.args,
    ]
    mode: str | None = None
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--taskguard-mode" and index + 1 < len(args):
            mode = args[index + 1]
        elif arg.startswith("--taskguard-mode="):
            mode = arg.partition("=")[2]
    if mode is None:
        mode = str(config.getini("taskguard_mode")) or None
    return mode


def _acknowledged(config: pytest.Config) -> list[str]:
    """The patterns of the ``taskguard_unguarded`` ini lines (``pattern: reason``)."""
    patterns = []
    for line in config.getini(UNGUARDED_INI):
        pattern, colon, reason = str(line).partition(":")
        pattern = pattern.strip()
        problem = pattern_problem(pattern) if pattern else "a module pattern is required"
        if problem is None and (not colon or not reason.strip()):
            problem = "a reason is required"
        if problem is not None:
            raise pytest.UsageError(
                f"{UNGUARDED_INI}: {line!r}: {problem}; expected 'module.pattern: reason'"
            )
        patterns.append(pattern)
    return patterns


def _mode(config: pytest.Config) -> str | None:
    mode = config.known_args_namespace.taskguard_mode or config.getini("taskguard_mode")
    if not mode:
        return None
    if mode not in MODES:
        raise pytest.UsageError(f"taskguard_mode must be error, warn or off, not {mode!r}")
    return str(mode)


def _check_ini(config: pytest.Config) -> bool:
    try:
        return bool(config.getini("taskguard_check"))
    except (ValueError, pytest.UsageError) as exc:  # pytest names the value, not the key
        raise pytest.UsageError(f"taskguard_check must be true or false: {exc}") from None


def _load_policy(config: pytest.Config) -> Policy:
    try:
        return load_policy(config.rootpath)
    except PolicyError as exc:
        raise pytest.UsageError(f"taskguard: {exc}") from None


# --------------------------------------------------------------------------- the guard


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    _start(early_config)


def _start(config: pytest.Config) -> _State:
    state = config.stash.get(_STATE, None)
    if state is not None:
        if not state.settled:
            _settle(state)
        return state
    mode = _mode(config)
    _check_ini(config)  # a malformed value is a usage error now, not mid-collection
    acknowledged = _acknowledged(config)
    state = _State(config, mode or "error")
    state.settled = True
    config.stash[_STATE] = state
    if mode == "off":
        return state
    active = _hook.active_guard()
    if active is not None:
        # An enclosing session (pytester in-process) or the program already installed one:
        # this session does not manage it.
        state.guard = active
        state.mode = active.mode
        if not any(claimed is active for claimed in _claimed):
            # The program's own (`taskguard run -- pytest`): no session listens to it, so
            # this one enforces it, or a swallowed violation would fail no test.
            state.policy = active.policy
            state.adopted = True
            _claim(state, active)
            _judge_unguarded(state, acknowledged)
        return state
    _own(state, _load_policy(config), mode)
    _judge_unguarded(state, acknowledged)
    return state


def _own(state: _State, policy: Policy, mode: str | None) -> None:
    state.policy = policy
    guard, _created = _hook.install_quietly(policy, mode=mode)
    _claim(state, guard)
    state.guard = guard
    state.mode = guard.mode
    state.owned = True


def _settle(state: _State) -> None:
    """Apply the mode and options of the parsed command line to the early guard."""
    state.settled = True
    config = state.config
    mode = _mode(config)
    _check_ini(config)
    acknowledged = _acknowledged(config)
    guard = state.guard
    if guard is None or not state.owned:
        return
    if mode == "off":
        _release(state, guard)
        guard.uninstall()
        state.guard, state.owned, state.mode = None, False, "off"
        state.take()  # nothing is enforced in this session
        return
    if mode is not None and mode != guard.mode:
        _hook.set_mode(guard, mode)
    state.mode = guard.mode
    _judge_unguarded(state, acknowledged)


def _judge_unguarded(state: _State, acknowledged: list[str]) -> None:
    guard = state.guard
    if guard is None:
        return
    for module in guard.unguarded:
        if not any(matches(pattern, module) for pattern in acknowledged):
            state.unacknowledged.setdefault(module, None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*modules, reason): allow importing these modules (dotted patterns) "
        "inside this test; the reason is required",
    )
    _start(config)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _front(session.config)


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    _front(session.config)


def _front(config: pytest.Config) -> None:
    # pytest's assertion rewriter and other import hooks insert themselves at index 0.
    state = config.stash.get(_STATE, None)
    if state is not None and (state.owned or state.adopted) and state.guard is not None:
        _hook.ensure_first(state.guard)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None and (state.owned or state.adopted) and state.guard is not None:
        _release(state, state.guard)
        if state.owned:
            state.guard.uninstall()


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(_STATE, None)
    if state is None or state.guard is None:
        active = _hook.active_guard()
        if active is not None:  # --taskguard-mode=off under `taskguard run`: still blocking
            return [
                "taskguard: runtime guard off in this session; the program's guard is "
                f"installed (mode {active.mode})"
            ]
        return ["taskguard: runtime guard off"]
    guard = state.guard
    if not state.owned and not state.adopted:
        return [f"taskguard: runtime guard installed outside this session (mode {guard.mode})"]
    by = ", installed by the program" if state.adopted else ""
    lines = [
        f"taskguard: runtime guard on (mode {guard.mode}{by}), enforcing "
        f"{_count(len(guard.policy.protected), 'protected pattern')} and "
        f"{_count(len(guard.policy.dispatch_modules), 'dispatch-module pattern')}"
    ]
    if not guard.policy.root_packages:
        lines.append("taskguard: no first-party packages (root-packages): nothing is guarded")
    if guard.unguarded:
        lines.append(
            f"taskguard: {_count(len(guard.unguarded), 'first-party module')} imported before "
            f"the guard, not guarded: {', '.join(guard.unguarded)}"
        )
        if state.unacknowledged:
            lines.append(
                f"taskguard: not acknowledged in {UNGUARDED_INI}: "
                + ", ".join(state.unacknowledged)
                + (" (the run fails)" if state.enforcing else "")
            )
    return lines


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --------------------------------------------------------------------------- attribution


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    state = collector.config.stash.get(_STATE, None)
    if state is not None:
        state.where = collector.nodeid or "<collection>"
    report = yield
    if state is not None:
        _judge(state, report, collector.path, "collection")
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    state = item.config.stash.get(_STATE, None)
    if state is not None:
        state.drop()  # anything between two tests belongs to neither
        state.where = item.nodeid
        if (state.owned or state.adopted) and state.guard is not None:
            _hook.ensure_first(state.guard)  # code under test may have moved the finder
    try:
        return (yield)
    finally:
        if state is not None:
            state.drop()  # after the last report of the test (logfinish hooks, say)
            state.where = "<between tests>"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash.get(_STATE, None)
    markers = list(item.iter_markers(MARKER))
    if not markers:
        return
    stack = ExitStack()
    item.stash[_ALLOWANCES] = stack
    guard = state.guard if state is not None else None
    for marker in markers:
        problem = _marker_problem(marker, guard.policy if guard is not None else None)
        if problem is not None:
            pytest.fail(
                f"taskguard: usage error: @pytest.mark.{MARKER}{_shown(marker)}: {problem}\n"
                f'usage: @pytest.mark.{MARKER}("httpx", reason="why this test may import it")',
                pytrace=False,
            )
        if guard is not None:
            stack.enter_context(guard.allowing(*marker.args, reason=marker.kwargs["reason"]))


def _shown(marker: pytest.Mark) -> str:
    parts = [repr(arg) for arg in marker.args]
    parts.extend(f"{key}={value!r}" for key, value in marker.kwargs.items())
    return f"({', '.join(parts)})"


def _marker_problem(marker: pytest.Mark, policy: Policy | None) -> str | None:
    """What is wrong with one ``taskguard_allow`` marker, if anything."""
    unknown = sorted(set(marker.kwargs) - {"reason"})
    if unknown:
        return f"unknown keyword argument {unknown[0]!r} (only reason= is accepted)"
    reason = marker.kwargs.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return "a non-empty reason= is required"
    if not marker.args:
        return "name at least one module to allow"
    for module in marker.args:
        problem = pattern_problem(module)
        if problem is not None:
            return problem
        if policy is not None and not pattern_could_be_refused(policy, module):
            targets = (*policy.dispatch_modules, *policy.forbidden_in_protected)
            return (
                f"{module!r} matches no dispatch-modules or forbidden-in-protected pattern of "
                f"the policy, so there is nothing to allow{_suggestion(module, targets)}"
            )
    return None


def _suggestion(module: str, targets: tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(module, targets, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    try:
        return (yield)
    finally:
        stack = item.stash.get(_ALLOWANCES, None)
        if stack is not None:
            stack.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash.get(_STATE, None)
    if state is not None:
        _judge(state, report, item.path, call.when)
    return report


def _judge(
    state: _State,
    report: pytest.TestReport | pytest.CollectReport,
    path: Path | None,
    phase: str,
) -> None:
    """Fail a passing report whose phase made a forbidden import nobody was shown."""
    pending = state.take()
    if not pending:
        return
    text = "\n".join(_describe(violation) for violation in pending)
    report.sections.append((f"taskguard ({phase})", text))
    if not state.enforcing or not report.passed:
        return
    # One that reached the test's own code (pytest.raises(ForbiddenImportError) in the test
    # file) was seen; one caught anywhere else, app code or library, was swallowed.
    swallowed = [
        violation
        for violation, errors in pending.items()
        if not all(_reached(error, path) for error in errors)
    ]
    if swallowed:
        report.outcome = "failed"
        report.longrepr = (
            f"taskguard: forbidden import during {phase}, swallowed before it reached this "
            "test:\n" + "\n".join(f"  {_describe(violation)}" for violation in swallowed)
        )


def _reached(error: BaseException | None, path: Path | None) -> bool:
    if error is None or path is None or error.__traceback__ is None:
        return False
    catcher = error.__traceback__.tb_frame.f_code.co_filename
    return os.path.normcase(os.path.abspath(catcher)) == os.path.normcase(str(path))


def _describe(violation: Violation) -> str:
    return (
        f"{violation.code} {violation.importer} imports {violation.imported} "
        f"at {violation.path}:{violation.line}"
    )


# --------------------------------------------------------------------------- reporting


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    state.drop()
    if state.guard is not None and (state.owned or state.adopted):
        acknowledged = _acknowledged(session.config)
        for module in _hook.escaped(state.guard):
            if not any(matches(pattern, module) for pattern in acknowledged):
                state.escaped.setdefault(module, None)
    workeroutput = getattr(session.config, "workeroutput", None)
    if isinstance(workeroutput, dict):
        # pytest-xdist ships this dict to the controller (pytest_testnodedown below).
        workeroutput["taskguard_events"] = [(v._asdict(), where) for v, where in state.seen]
        workeroutput["taskguard_unjudged"] = [v._asdict() for v in state.unjudged]
        workeroutput["taskguard_unacknowledged"] = list(state.unacknowledged)
        workeroutput["taskguard_escaped"] = list(state.escaped)
        return  # the controller judges the session
    failing = state.unjudged or state.unacknowledged or state.escaped
    # No test selected is no excuse: exit 5 is accepted as a pass by many CI scripts.
    passing = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    if state.enforcing and failing and session.exitstatus in passing:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    state = node.config.stash.get(_STATE, None)
    output = getattr(node, "workeroutput", None) or {}
    if state is None:
        return
    for fields, where in output.get("taskguard_events", ()):
        state.remote.append((_violation(fields), where))
    for fields in output.get("taskguard_unjudged", ()):
        state.unjudged.setdefault(_violation(fields), None)
    for module in output.get("taskguard_unacknowledged", ()):
        state.unacknowledged.setdefault(module, None)
    for module in output.get("taskguard_escaped", ()):
        state.escaped.setdefault(module, None)


def _violation(fields: dict[str, Any]) -> Violation:
    fields["chain"] = tuple(fields.get("chain", ()))
    return Violation(**fields)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    if state.unacknowledged:
        terminalreporter.write_sep(
            "=",
            f"taskguard: {_count(len(state.unacknowledged), 'first-party module')} not guarded",
        )
        terminalreporter.write_line(
            "imported before the guard was installed (by a plugin registered before taskguard's, "
            "or -p): " + ", ".join(state.unacknowledged)
        )
        terminalreporter.write_line(
            f"acknowledge each in the ini option {UNGUARDED_INI} ('module.pattern: reason'), "
            "or import it later" + ("; the run fails" if state.enforcing else ""),
            red=state.enforcing,
        )
    if state.escaped:
        terminalreporter.write_sep(
            "=", f"taskguard: {_count(len(state.escaped), 'first-party module')} ran unguarded"
        )
        terminalreporter.write_line(
            "loaded during the session by an import hook that does not run their code "
            "through exec into their namespace (or by hand): their imports of already-loaded "
            "modules were not checked: " + ", ".join(state.escaped)
        )
        terminalreporter.write_line(
            f"acknowledge each in the ini option {UNGUARDED_INI} ('module.pattern: reason'), "
            "or load it through the import system" + ("; the run fails" if state.enforcing else ""),
            red=state.enforcing,
        )
    seen: dict[Violation, list[str]] = {}
    for violation, where in [*state.seen, *state.remote]:
        wheres = seen.setdefault(violation, [])
        if where not in wheres:
            wheres.append(where)
    if not seen:
        return
    terminalreporter.write_sep(
        "=", f"taskguard: {_count(len(seen), 'forbidden import')} (mode {state.mode})"
    )
    for violation, wheres in seen.items():
        terminalreporter.write_line(f"{_describe(violation)}  [{', '.join(wheres)}]")
    if state.unjudged and state.enforcing:
        terminalreporter.write_line(
            f"taskguard: {_count(len(state.unjudged), 'forbidden import')} with no test or "
            "collector running to fail for it (swallowed): the run fails",
            red=True,
        )


# --------------------------------------------------------------------------- static check


class CheckFailed(Exception):
    """``taskguard check`` found violations."""

    def __init__(self, rendered: str) -> None:
        super().__init__(rendered)
        self.rendered = rendered


class TaskguardCheckItem(pytest.Item):
    """``taskguard check`` over the whole project, as one test (it uses the check cache)."""

    def __init__(self, *, policy: Policy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    def runtest(self) -> None:
        from taskguard._errors import BaselineError
        from taskguard._report import render
        from taskguard._static import check

        try:
            # The baseline file, like `taskguard check`: baselined violations do not fail.
            result = check(None, policy=self.policy, use_cache=True, baseline=True)
        except BaselineError as exc:
            raise CheckFailed(f"taskguard: error: {exc}") from None
        if not result.files_checked:
            # Checking nothing is no pass (the CLI exits 2 for it).
            raise CheckFailed(f"taskguard check: no files checked: {result.empty_reason}")
        if result.violations:
            raise CheckFailed(render(result, "text"))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            return excinfo.value.rendered
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, "taskguard check"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    explicit = config.getoption("taskguard_check")
    if explicit is False or (explicit is None and not _check_ini(config)):
        return
    state = config.stash.get(_STATE, None)
    if state is not None and state.guard is not None and not (state.owned or state.adopted):
        return  # a nested session (pytester in-process): the enclosing one checks
    if explicit is None and any("::" in str(arg) for arg in config.args):
        return  # the user picked single tests
    policy = state.policy if state is not None and state.policy is not None else None
    if policy is None:
        policy = _load_policy(config)
    if explicit is None and not _configured(policy):
        return
    items.insert(
        0,
        TaskguardCheckItem.from_parent(
            session, name=CHECK_ITEM, nodeid=CHECK_ITEM, path=config.rootpath, policy=policy
        ),
    )


def _configured(policy: Policy) -> bool:
    """Whether the project has a ``[tool.taskguard]`` table (the default check needs one)."""
    if policy.source is None:
        return False
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - 3.10
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        data = tomllib.loads(policy.source.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and isinstance(tool.get("taskguard"), dict)
