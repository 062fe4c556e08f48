"""The ``taskguard`` console script: ``check``, ``explain``, ``init`` and ``run``.

Exit codes: 0 clean, 1 violations, 2 usage or configuration error (printed without a
traceback). The import path stays light: the checker, the reports and the runtime guard are
imported only by the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Sequence

from taskguard._version import __version__

# Not at module level: the checker is imported by the subcommand that needs it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from taskguard._memo import Trail
    from taskguard._static import CheckResult

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"taskguard: error: {message}\n")


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, with the terminal width found without ``shutil``.

    argparse builds a formatter for every ``add_argument`` and imports ``shutil`` (which
    loads ``bz2``, ``lzma`` and ``zlib``) only to ask for the width: 2.5 ms of every run,
    a cached ``taskguard check`` included. The same answer as ``shutil.get_terminal_size``.
    """

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


def _columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="taskguard",
        description="One sanctioned path for background-task dispatch; every other path "
        "fails loudly.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"taskguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    add = functools.partial(sub.add_parser, formatter_class=_Formatter)

    check = add(
        "check",
        help="check imports against the [tool.taskguard] policy",
        description="Check first-party code against the [tool.taskguard] policy. Exit 0 when "
        "clean, 1 on violations, 2 on a usage or configuration error or when no file was checked.",
    )
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or directories")
    check.add_argument("--config", metavar="FILE", help="TOML file holding [tool.taskguard]")
    check.add_argument(
        "--format", choices=("text", "json", "github", "sarif"), default="text", dest="fmt"
    )
    check.add_argument("--no-cache", action="store_true", help="ignore and do not write the cache")
    check.add_argument("--select", metavar="CODE,...", help="report only these rule codes")
    parsing = check.add_mutually_exclusive_group()
    parsing.add_argument(
        "--parse-all",
        action="store_true",
        help="parse every file, so that a syntax error anywhere is TG900 (by default only the "
        "files the byte prefilter cannot rule out are parsed: the others hold no import to "
        "judge)",
    )
    # Deprecated spellings, kept so that existing scripts run: --fast asked for what is now
    # the default, --no-prefilter for what --parse-all does.
    parsing.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)
    parsing.add_argument("--no-prefilter", action="store_true", help=argparse.SUPPRESS)
    check.add_argument(
        "--jobs", type=int, metavar="N", help="worker processes (default: only when it pays)"
    )
    baseline = check.add_mutually_exclusive_group()
    baseline.add_argument(
        "--write-baseline",
        action="store_true",
        help="record the current violations in the baseline file (rewritten; what changed is "
        "printed), then report against it",
    )
    baseline.add_argument(
        "--no-baseline",
        action="store_true",
        help="ignore the baseline file: report every violation as a failure",
    )

    explain = add("explain", help="print the page of a rule (TG001 ... TG900)")
    explain.add_argument("code", nargs="?", metavar="CODE", help="omit to list every rule")

    init = add(
        "init",
        help="write a commented [tool.taskguard] table into pyproject.toml",
        description="Append a commented [tool.taskguard] table to DIR/pyproject.toml "
        "(created when missing). Refuses to touch a file that already has one.",
    )
    init.add_argument("--path", default=".", metavar="DIR", help="project directory")

    run = add(
        "run",
        help="run a command with the runtime guard installed in every Python process",
        usage="taskguard run [--mode error|warn] [--config FILE] -- COMMAND [ARGS...]",
    )
    run.add_argument("--mode", choices=("error", "warn"), default=None)
    run.add_argument("--config", metavar="FILE")
    run.add_argument("command_args", nargs="*", metavar="COMMAND")
    return parser


def _missing(exc: FileNotFoundError) -> str:
    """What a missing path error says: the path, or that the working directory is gone."""
    if exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    try:
        os.getcwd()
    except FileNotFoundError:
        return "the working directory does not exist any more"
    return str(exc.strerror or exc)


def _error(message: str) -> int:
    print(f"taskguard: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _warn(message: str) -> None:
    print(f"taskguard: warning: {message}", file=sys.stderr)


def _use_color(stream: object) -> bool:
    # https://no-color.org: present and non-empty disables colour, whatever its value.
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Watched:
    """A stream that notes whether anything was written to it (a run that wrote to
    standard error is not memoised: the memo replays standard output only)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.written = False

    def write(self, text: str) -> int:
        self.written = True
        return self.stream.write(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)


def _check(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.jobs is not None and args.jobs < 1:
        return _error("--jobs must be at least 1")
    if args.fast:
        _warn("--fast is deprecated: the byte prefilter is the default now")
    if args.no_prefilter:
        _warn("--no-prefilter is deprecated: use --parse-all")
    if args.write_baseline:
        return _write_baseline(args)
    if args.no_cache or args.fast or args.no_prefilter:
        # Never memoised: not a cached run, or one that writes to standard error.
        return _check_once(args, None)[0]
    # A run the verdict memo may keep: what it reads is stamped (``trail``) and compared
    # with the time it started, and nothing may reach standard error.
    from taskguard._memo import Trail

    started = time.time_ns()
    trail = Trail(argv)
    stderr = sys.stderr
    watched = _Watched(stderr)
    sys.stderr = watched
    try:
        code, output = _check_once(args, trail)
    finally:
        sys.stderr = stderr
    if trail.root:
        from taskguard import _memo

        _memo.store(
            argv,
            trail,
            started_ns=started,
            output=None if watched.written else output,
            code=code,
            paths=args.paths,
            config=args.config,
        )
    return code


def _check_once(args: argparse.Namespace, trail: Trail | None) -> tuple[int, str | None]:
    """One run of the checker: the exit code, and the report written (None: an error)."""
    from taskguard._errors import BaselineError, PolicyError, RuleSelectionError
    from taskguard._static.run import PARSE_ALL, PREFILTER, run_check

    try:
        result = run_check(
            args.paths or None,
            config=args.config,
            use_cache=not args.no_cache,
            select=args.select,
            mode=PARSE_ALL if args.parse_all or args.no_prefilter else PREFILTER,
            jobs=args.jobs,
            baseline=not args.no_baseline,
            trail=trail,
        )
    except PolicyError as exc:
        return _error(str(exc)), None
    except FileNotFoundError as exc:
        return _error(_missing(exc)), None
    except BaselineError as exc:
        return _error(str(exc)), None
    except RuleSelectionError as exc:
        return _error(f"--select: {exc}"), None
    except Exception as exc:
        # Never a traceback: a per-file failure is already TG900, so this is a bug.
        return _error(
            f"internal error: {type(exc).__name__}: {exc} (a bug in taskguard: please report it)"
        ), None
    if result.files_checked == 0:
        # Checking nothing is no pass, whatever the format: say which setting left every
        # file out.
        return _error(f"no files checked: {result.empty_reason}"), None
    from taskguard._memo import write_report

    output = _render(args, result)
    write_report(output)
    return (EXIT_VIOLATIONS if result.violations else EXIT_OK), output


def _render(args: argparse.Namespace, result: CheckResult) -> str:
    from taskguard._report import render

    return render(result, args.fmt, color=args.fmt == "text" and _use_color(sys.stdout))


def _report(args: argparse.Namespace, result: CheckResult) -> int:
    from taskguard._memo import write_report

    write_report(_render(args, result))
    return EXIT_VIOLATIONS if result.violations else EXIT_OK


def _write_baseline(args: argparse.Namespace) -> int:
    """``check --write-baseline``: record the whole project's violations, say what changed
    (on stderr, so a json or sarif report on stdout stays valid), then report against it."""
    from taskguard import _baseline
    from taskguard._errors import BaselineError, PolicyError
    from taskguard._static import CheckResult, check
    from taskguard._static.cached import load_policy_cached
    from taskguard._static.discover import display_path

    if args.select:
        return _error("--write-baseline records every rule code; it cannot take --select")
    try:
        policy = load_policy_cached(
            args.paths[0] if args.paths else None, args.config, not args.no_cache
        )
    except PolicyError as exc:
        return _error(str(exc))
    if not _baseline.judges_whole_project(args.paths, policy.project_root):
        return _error(
            "--write-baseline records the whole project; run it without PATH "
            f"(or with the project root, {policy.project_root})"
        )
    path = policy.baseline_path
    shown = display_path(str(path), os.getcwd())
    try:
        old = _baseline.load(path, shown) if os.path.lexists(path) else _baseline.Baseline()
    except BaselineError as exc:
        return _error(f"{exc}\n(fix it, or delete it to record a new baseline)")
    try:
        raw = check(
            args.paths or None,
            policy=policy,
            use_cache=not args.no_cache,
            parse_all=args.parse_all or args.no_prefilter,
            jobs=args.jobs,
        )
    except FileNotFoundError as exc:
        return _error(_missing(exc))
    if raw.files_checked == 0:
        # An empty run records nothing true: writing it would wipe the baseline.
        return _error(f"no files checked: {raw.empty_reason}; {shown} was not written")
    keyed = _baseline.entries_for(raw.violations)
    new = _baseline.Baseline.of(entry for _v, entry in keyed if entry is not None)
    try:
        _baseline.write(path, new, shown)
    except BaselineError as exc:
        return _error(str(exc))
    # Compared by key: a file written before keys were canonical is no change by itself.
    change = _baseline.diff(_baseline.canonicalised(old), new)
    added = sum(n for _e, n in change.added)
    removed = sum(n for _e, n in change.removed)
    what = f"{added} added, {removed} removed" if change else "no change"
    lines = [f"taskguard: wrote {shown}: {_plural(len(new), 'violation')} recorded ({what})"]
    for sign, items in (("+", change.added), ("-", change.removed)):
        lines.extend(
            f"  {sign} {entry.describe()}" + (f" (x{n})" if n > 1 else "") for entry, n in items
        )
    print("\n".join(lines), file=sys.stderr)
    failures, baselined = _baseline.settle(keyed, new, shown, judge_stale=True)
    result = CheckResult(
        tuple(sorted(failures)), raw.files_checked, tuple(sorted(baselined)), shown
    )
    return _report(args, result)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _explain(args: argparse.Namespace) -> int:
    from taskguard._report import rule_page
    from taskguard._rules import RULES

    if args.code is None:
        for code, rule in sorted(RULES.items()):
            print(f"{code}  {rule.name}: {rule.summary}")
        return EXIT_OK
    try:
        sys.stdout.write(rule_page(args.code))
    except KeyError:
        return _error(f"unknown rule {args.code!r}; known: {', '.join(sorted(RULES))}")
    return EXIT_OK


def _init(args: argparse.Namespace) -> int:
    from taskguard._errors import PolicyError
    from taskguard._init import write_table

    try:
        path, roots = write_table(args.path)
    except PolicyError as exc:
        return _error(str(exc))
    except OSError as exc:
        return _error(f"cannot write pyproject.toml: {exc}")
    found = ", ".join(roots) if roots else "none found; fill in root-packages"
    print(f"taskguard: wrote [tool.taskguard] to {path} (root packages: {found})")
    return EXIT_OK


def _run(args: argparse.Namespace, command: list[str]) -> int:
    if not command:
        return _error("run needs a command: taskguard run [--mode error|warn] -- COMMAND ...")
    # Written alongside the runtime guard; until it lands this import is all mypy sees.
    from taskguard._run import run  # type: ignore[import-not-found, unused-ignore]

    return int(run(command, mode=args.mode, config=args.config))


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: ``taskguard ARGS`` (``argv`` defaults to the process's arguments).

    The console script and ``python -m taskguard`` enter through ``taskguard.__main__``,
    which first offers a check to the verdict memo; so does a console script installed
    before that entry point (``taskguard._cli:main``, called without ``argv``).
    """
    if argv is None and sys.argv[1:2] == ["check"]:
        from taskguard._memo import replay

        code = replay(sys.argv[1:])
        if code is not None:
            return code
    arguments = list(sys.argv[1:] if argv is None else argv)
    command: list[str] | None = None
    if arguments[:1] == ["run"] and "--" in arguments:
        # Everything after "--" belongs to the command, options that look like ours included.
        split = arguments.index("--")
        arguments, command = arguments[:split], arguments[split + 1 :]
    args = _parser().parse_args(arguments)
    if args.command == "check":
        return _check(args, arguments)
    if args.command == "explain":
        return _explain(args)
    if args.command == "init":
        return _init(args)
    if args.command == "run":
        return _run(args, command if command is not None else list(args.command_args))
    _parser().print_help(sys.stderr)
    return EXIT_USAGE
