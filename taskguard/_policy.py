"""The policy: one immutable value built by :func:`load_policy`, and the one pure decision.

Everything here is pure data and pure functions. The static checker, the runtime guard
and the pytest plugin all call :func:`decide`; none of them re-implements matching.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from taskguard._errors import PolicyError

# Re-exported until the static checker imports them from taskguard._imports (their one copy).
from taskguard._imports import import_candidates as import_candidates  # noqa: PLC0414 - re-export for mypy
from taskguard._imports import resolve_relative as resolve_relative  # noqa: PLC0414 - re-export for mypy
from taskguard._rules import TG001, TG002
from taskguard._verdict import Verdict as Verdict  # noqa: PLC0414 - re-export for mypy

# Not ``from typing import ...``: ``taskguard check`` imports this module on every run and
# does not otherwise need typing. Type checkers treat any ``TYPE_CHECKING`` name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final, Literal

    # Imported when first needed (see __getattr__ below); importable from here.
    from taskguard._allow import AllowEntry as AllowEntry  # noqa: PLC0414 - re-export for mypy
    from taskguard._distributions import distribution_packages as distribution_packages  # noqa: PLC0414 - re-export for mypy

    Mode = Literal["error", "warn"]
    TypeChecking = Literal["ignore", "check"]

DEFAULT_SANCTIONED: Final = ("dispatch", "**.infrastructure.tasks_client")
DEFAULT_DISPATCH_MODULES: Final = (
    "google.cloud.tasks",
    "google.cloud.tasks_v2",
    "google.cloud.tasks_v2beta2",
    "google.cloud.tasks_v2beta3",
)
# The baseline file of gradual adoption (see _baseline.py), relative to the project root.
DEFAULT_BASELINE: Final = "taskguard-baseline.json"
DEFAULT_PROTECTED: Final = ("**.api.services.episodes", "**.api.routers", "**.worker.tasks")
DEFAULT_FORBIDDEN: Final = (
    "httpx",
    "requests",
    "multiprocessing",
    "aiohttp",
    "urllib3",
    "urllib.request",
    "http.client",
    "concurrent.futures.ProcessPoolExecutor",
)

# Directories never walked for files nor discovered as packages.
SKIP_DIRS: Final = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "env",
        "site-packages",
        "build",
        "dist",
        "node_modules",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".taskguard_cache",
        ".eggs",
    }
)
# Top-level directories that hold code but are not the project's importable packages.
NOT_PACKAGES: Final = frozenset({"tests", "test", "docs", "examples", "benchmarks", "scripts"})

KEYS: Final = (
    "root-packages",
    "sanctioned",
    "dispatch-modules",
    "dispatch-distributions",
    "protected",
    "forbidden-in-protected",
    "type-checking",
    "exclude",
    "mode",
    "allow",
    "indirect",
    "baseline",
)
ALLOW_KEYS: Final = ("importer", "imported", "reason")


# --------------------------------------------------------------------------- patterns


def pattern_problem(pattern: object) -> str | None:
    """Why ``pattern`` is not a valid module pattern, or ``None`` when it is."""
    if not isinstance(pattern, str):
        return f"expected a string, got {type(pattern).__name__}"
    if not pattern:
        return "empty pattern"
    literal = False
    for segment in pattern.split("."):
        if segment in ("*", "**"):
            continue
        if not segment.isidentifier():
            return (
                f"malformed pattern {pattern!r}: segment {segment!r} is neither an "
                "identifier nor '*' / '**'"
            )
        literal = True
    if not literal:
        return f"malformed pattern {pattern!r}: it needs at least one literal segment"
    return None


def baseline_problem(value: object) -> str | None:
    """Why ``value`` is not a usable ``baseline`` path, or ``None`` when it is."""
    if not isinstance(value, str):
        return f"expected a path (a string), got {type(value).__name__}"
    if not value.strip():
        return "expected a path, got an empty string"
    if "\0" in value:
        return "a path cannot hold a NUL character"
    if value.endswith(("/", "\\")) or os.path.basename(value) in (".", ".."):
        return f"expected the path of a file, got the directory {value!r}"
    return None


_UNSEEN: Final = object()
_UNCOMPILED: Final = object()


def _pattern_regex(pattern: str) -> str:
    # Matched against "." + module name, so every segment carries its own leading dot and
    # "**" can stand for zero segments without leaving a dangling separator.
    out = []
    for segment in pattern.split("."):
        if segment == "**":
            out.append(r"(?:\.[^.]+)*")
        elif segment == "*":
            out.append(r"\.[^.]+")
        else:
            out.append(r"\." + re.escape(segment))
    # A pattern matches the module and every submodule, never a sibling with a longer name.
    return "".join(out) + r"(?:\..+)?"


class PatternSet:
    """A tuple of module patterns compiled into one regular expression."""

    __slots__ = ("_each", "_memo", "_regex", "patterns")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns
        # Compiled on first use: a cached ``taskguard check`` builds a policy and never
        # matches a name (compiling every set cost ~9 ms of its start-up).
        self._regex: Any = _UNCOMPILED  # re.Pattern[str] | None once compiled
        # One regex per pattern, compiled on the first match that needs to know which pattern
        # it was (compiling costs more than a cached run's matching).
        self._each: tuple[re.Pattern[str], ...] = ()
        # Answers are pure in the module name: a checker asks about the same names thousands
        # of times (every importer, every imported name).
        self._memo: dict[str, str | None] = {}

    def __repr__(self) -> str:
        return f"PatternSet({self.patterns!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PatternSet):
            return NotImplemented
        return self.patterns == other.patterns

    def __hash__(self) -> int:
        return hash(self.patterns)

    def first_match(self, module: str) -> str | None:
        """The first pattern that matches ``module`` (or one of its parents), else ``None``."""
        try:
            return self._memo[module]
        except KeyError:
            pass
        found = None
        regex = self._regex
        if regex is _UNCOMPILED:
            regex = self._compile()
        if regex is not None and regex.fullmatch("." + module) is not None:
            if not self._each:
                self._each = tuple(re.compile(_pattern_regex(p), re.S) for p in self.patterns)
            for pattern, regex in zip(self.patterns, self._each, strict=True):
                if regex.fullmatch("." + module):
                    found = pattern
                    break
        if len(self._memo) < 200_000:
            self._memo[module] = found
        return found

    def __contains__(self, module: object) -> bool:
        if not isinstance(module, str):
            return False
        found = self._memo.get(module, _UNSEEN)
        if found is not _UNSEEN:
            return found is not None
        regex = self._regex
        if regex is _UNCOMPILED:
            regex = self._compile()
        return regex is not None and regex.fullmatch("." + module) is not None

    def _compile(self) -> re.Pattern[str] | None:
        regex = (
            re.compile("|".join(f"(?:{_pattern_regex(p)})" for p in self.patterns), re.S)
            if self.patterns
            else None
        )
        self._regex = regex
        return regex


def matches(pattern: str, module: str) -> bool:
    """Whether module ``pattern`` matches ``module`` or a package that contains it."""
    return re.fullmatch(_pattern_regex(pattern), "." + module, re.S) is not None


# --------------------------------------------------------------------------- the policy


class _Compiled:
    """The compiled patterns and the decision memo a :class:`Policy` carries.

    Kept out of the dataclass fields: they are derived from the fields, so they take no
    part in equality, hashing, ``repr``, ``dataclasses.replace()`` or pickling.
    """

    __slots__ = ("_cache", "_dispatch", "_forbidden", "_protected", "_roots", "_sanctioned")
    _sanctioned: PatternSet
    _dispatch: PatternSet
    _protected: PatternSet
    _forbidden: PatternSet
    _roots: PatternSet
    _cache: dict[tuple[str, str], Verdict | None]


@dataclass(frozen=True)
class Policy(_Compiled):
    """The whole of ``[tool.taskguard]``, validated. Build it with :func:`load_policy`.

    A frozen dataclass: ``dataclasses.replace(policy, mode="warn")`` gives a validated copy.
    """

    root_packages: tuple[str, ...] = ()
    sanctioned: tuple[str, ...] = DEFAULT_SANCTIONED
    dispatch_modules: tuple[str, ...] = DEFAULT_DISPATCH_MODULES
    dispatch_distributions: tuple[str, ...] = ()
    protected: tuple[str, ...] = DEFAULT_PROTECTED
    forbidden_in_protected: tuple[str, ...] = DEFAULT_FORBIDDEN
    type_checking: TypeChecking = "ignore"
    exclude: tuple[str, ...] = ()
    mode: Mode = "error"
    allow: tuple[AllowEntry, ...] = ()
    indirect: bool = False
    baseline: str = DEFAULT_BASELINE
    project_root: Path | None = None
    source: Path | None = None

    def __post_init__(self) -> None:
        problems = [
            (key, problem)
            for key, values in (
                ("root-packages", self.root_packages),
                ("sanctioned", self.sanctioned),
                ("dispatch-modules", self.dispatch_modules),
                ("protected", self.protected),
                ("forbidden-in-protected", self.forbidden_in_protected),
            )
            for value in values
            if (problem := pattern_problem(value)) is not None
        ]
        if (problem := baseline_problem(self.baseline)) is not None:
            problems.append(("baseline", problem))
        if problems:
            raise PolicyError(problems)
        set_ = object.__setattr__
        set_(self, "_sanctioned", PatternSet(self.sanctioned))
        set_(self, "_dispatch", PatternSet(self.dispatch_modules))
        set_(self, "_protected", PatternSet(self.protected))
        set_(self, "_forbidden", PatternSet(self.forbidden_in_protected))
        set_(self, "_roots", PatternSet(self.root_packages))
        set_(self, "_cache", {})

    def __reduce__(self) -> tuple[Any, ...]:
        # The public fields only: compiled patterns and the memo are rebuilt on unpickling,
        # never shipped between processes.
        return (type(self), tuple(getattr(self, name) for name in _POLICY_FIELDS))

    # ------------------------------------------------------------------ queries

    @property
    def baseline_path(self) -> Path:
        """Where the baseline file is: ``baseline`` relative to the project root (or the
        working directory when the policy has no root); an absolute path stays as it is."""
        base = self.project_root if self.project_root is not None else Path.cwd()
        return base / self.baseline

    def is_first_party(self, module: str) -> bool:
        """Whether ``module`` belongs to one of the project's root packages."""
        return module in self._roots

    def is_protected(self, module: str) -> bool:
        return module in self._protected

    def protected_by(self, module: str) -> str | None:
        return self._protected.first_match(module)

    def is_sanctioned(self, module: str) -> bool:
        return module in self._sanctioned

    def is_dispatch_module(self, module: str) -> bool:
        return module in self._dispatch

    def is_forbidden_in_protected(self, module: str) -> bool:
        return module in self._forbidden

    def is_forbidden(self, importer: str, imported: str) -> bool:
        """Whether the policy blocks ``importer`` from importing ``imported``."""
        verdict = decide(self, importer, imported)
        return verdict is not None and not verdict.allowed


_POLICY_FIELDS: Final = tuple(f.name for f in fields(Policy))


def __getattr__(name: str) -> object:
    # Names that moved out so that loading a policy neither builds nor loads them (PEP 562):
    # ``from taskguard._policy import AllowEntry`` and old pickles keep working.
    home: Any
    if name == "AllowEntry":
        from taskguard import _allow as home
    elif name == "distribution_packages":
        from taskguard import _distributions as home
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value: object = getattr(home, name)
    globals()[name] = value
    return value


def decide(policy: Policy, importer: str, imported: str) -> Verdict | None:
    """The one decision: may module ``importer`` import the fully resolved ``imported``?

    Returns ``None`` when the import is fine, else a :class:`Verdict` (whose ``allowed_by``
    is set when an allow entry excuses it). Pure: the answer depends only on the arguments,
    and is memoised on the policy.
    """
    key = (importer, imported)
    try:
        return policy._cache[key]
    except KeyError:
        pass
    verdict: Verdict | None = None
    dispatch_pattern = policy._dispatch.first_match(imported)
    if dispatch_pattern is not None and importer not in policy._sanctioned:
        verdict = Verdict(
            TG001.code,
            importer,
            imported,
            dispatch_pattern,
            ", ".join(policy.sanctioned) or "no module (none is sanctioned)",
        )
    else:
        protected_pattern = policy._protected.first_match(importer)
        if protected_pattern is not None:
            forbidden_pattern = policy._forbidden.first_match(imported)
            if forbidden_pattern is not None:
                verdict = Verdict(
                    TG002.code, importer, imported, forbidden_pattern, protected_pattern
                )
    if verdict is not None:
        for entry in policy.allow:
            if matches(entry.importer, importer) and matches(entry.imported, imported):
                verdict = Verdict(
                    verdict.code,
                    importer,
                    imported,
                    verdict.pattern,
                    verdict.rule_pattern,
                    allowed_by=entry,
                )
                break
    policy._cache[key] = verdict
    return verdict


# --------------------------------------------------------------------------- loading


def _resolved(path: Path) -> Path:
    """``path.resolve()``, or the absolute path when it is a symlink loop (which
    ``resolve()`` raises for, as RuntimeError before Python 3.13): the loop is then reported
    where the file is read, not as a crash here."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for candidate in pyproject_candidates(start):
        if candidate.is_file():
            return candidate
    return None


def pyproject_candidates(start: Path) -> Iterator[Path]:
    """Where :func:`find_pyproject` looks, nearest first (the verdict memo stamps them)."""
    start = _resolved(start)
    here = start if start.is_dir() else start.parent
    for directory in (here, *here.parents):
        yield directory / "pyproject.toml"


def discover_root_packages(
    project_root: Path, exclude: Iterable[str] = (), consulted: list[str] | None = None
) -> tuple[str, ...]:
    """Top-level packages (regular and namespace) under the project root and under ``src/``.

    ``consulted`` (when given) receives every path whose listing or type the answer
    depends on: the verdict memo stamps them.
    """
    found: set[str] = set()
    excluded = tuple(exclude)
    for base in (project_root, project_root / "src"):
        if consulted is not None:
            consulted.append(str(base))
        try:
            entries = sorted(os.scandir(base), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if (
                name in SKIP_DIRS
                or name in NOT_PACKAGES
                or name.startswith(".")
                or not name.isidentifier()
                or not entry.is_dir(follow_symlinks=True)
            ):
                continue
            if base == project_root and name == "src":
                continue
            rel = os.path.relpath(entry.path, project_root).replace(os.sep, "/")
            if is_excluded(rel, excluded):
                continue
            init = os.path.join(entry.path, "__init__.py")
            if consulted is not None:
                consulted += (entry.path, init)
            if os.path.isfile(init) or _holds_python(entry.path, consulted):
                found.add(name)
    return tuple(sorted(found))


def _holds_python(directory: str, consulted: list[str] | None, depth: int = 4) -> bool:
    # A namespace package is a directory that holds Python files somewhere below it.
    if depth < 0:
        return False
    if consulted is not None:
        consulted.append(directory)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return False
    for entry in entries:
        if entry.name.endswith(".py"):
            if consulted is not None:
                consulted.append(entry.path)
            if entry.is_file():
                return True
    return any(
        entry.is_dir(follow_symlinks=False)
        and entry.name not in SKIP_DIRS
        and entry.name.isidentifier()
        and _holds_python(entry.path, consulted, depth - 1)
        for entry in entries
    )


def exclude_matcher(globs: Iterable[str]) -> Callable[[str, bool], bool]:
    """``excluded(rel_path, is_dir)`` with the semantics of :func:`is_excluded`,
    compiled once for many paths; a file (``is_dir=False``) skips the trailing-``/`` try."""
    patterns = tuple(globs)
    if not patterns:
        return lambda rel_path, is_dir: False
    from fnmatch import translate

    regex = re.compile("|".join(f"(?:{translate(g)})" for g in patterns))

    def excluded(rel_path: str, is_dir: bool) -> bool:
        return regex.match(rel_path) is not None or (
            is_dir and regex.match(rel_path + "/") is not None
        )

    return excluded


def is_excluded(rel_path: str, globs: Iterable[str]) -> bool:
    """Whether a ``/``-separated path relative to the project root matches an exclude glob.

    ``*`` crosses ``/`` (``.venv/**`` and ``.venv/*`` both exclude everything below ``.venv``);
    a directory is also tried with a trailing ``/`` so ``build/**`` excludes ``build`` itself.
    """
    from fnmatch import fnmatchcase

    return any(fnmatchcase(rel_path, g) or fnmatchcase(rel_path + "/", g) for g in globs)


def _suggest(key: str, options: Iterable[str]) -> str:
    import difflib

    names = list(options)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(key.replace("_", "-"), names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    # A shortened key ("forbidden", "forbiden" for "forbidden-in-protected") is too far from
    # the full name for difflib; match it against the names' leading dash-separated parts.
    heads: dict[str, list[str]] = {}
    for name in names:
        parts = name.split("-")
        for end in range(1, len(parts)):
            heads.setdefault("-".join(parts[:end]), []).append(name)
    head = difflib.get_close_matches(key.replace("_", "-"), list(heads), n=1, cutoff=0.8)
    if not head:
        return ""
    found = heads[head[0]]
    if len(found) == 1:
        return f"; did you mean {found[0]!r}?"
    return "; did you mean one of " + ", ".join(repr(name) for name in sorted(found)) + "?"


def _string_list(
    table: Mapping[str, Any], key: str, problems: list[tuple[str, str]], *, patterns: bool
) -> tuple[str, ...] | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list):
        problems.append((key, f"expected a list of strings, got {type(value).__name__}"))
        return None
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            problems.append((f"{key}[{i}]", f"expected a string, got {type(item).__name__}"))
            continue
        if patterns and (problem := pattern_problem(item)) is not None:
            problems.append((f"{key}[{i}]", problem))
            continue
        out.append(item)
    return tuple(out)


def _choice(
    table: Mapping[str, Any], key: str, options: tuple[str, ...], problems: list[tuple[str, str]]
) -> str | None:
    if key not in table:
        return None
    value = table[key]
    if value not in options or not isinstance(value, str):
        allowed = " or ".join(repr(o) for o in options)
        problems.append((key, f"expected {allowed}, got {value!r}"))
        return None
    return value


def policy_from_table(
    table: Mapping[str, Any],
    *,
    project_root: Path | None = None,
    source: Path | None = None,
) -> Policy:
    """Build a :class:`Policy` from a ``[tool.taskguard]`` mapping.

    Every problem is collected and raised together as one :class:`PolicyError`.
    """
    problems: list[tuple[str, str]] = []
    for key in table:
        if key not in KEYS:
            problems.append((key, f"unknown key{_suggest(key, KEYS)}"))

    kwargs: dict[str, Any] = {}
    for key, attr, is_pattern in (
        ("root-packages", "root_packages", True),
        ("sanctioned", "sanctioned", True),
        ("dispatch-modules", "dispatch_modules", True),
        ("dispatch-distributions", "dispatch_distributions", False),
        ("protected", "protected", True),
        ("forbidden-in-protected", "forbidden_in_protected", True),
        ("exclude", "exclude", False),
    ):
        value = _string_list(table, key, problems, patterns=is_pattern)
        if value is not None:
            kwargs[attr] = value
    if (mode := _choice(table, "mode", ("error", "warn"), problems)) is not None:
        kwargs["mode"] = mode
    if (tc := _choice(table, "type-checking", ("ignore", "check"), problems)) is not None:
        kwargs["type_checking"] = tc
    if "baseline" in table:
        if (problem := baseline_problem(table["baseline"])) is None:
            kwargs["baseline"] = table["baseline"]
        else:
            problems.append(("baseline", problem))
    if "indirect" in table:
        if isinstance(table["indirect"], bool):
            kwargs["indirect"] = table["indirect"]
        else:
            problems.append(("indirect", f"expected true or false, got {table['indirect']!r}"))

    allow: list[AllowEntry] = []
    raw_allow = table.get("allow", [])
    if not isinstance(raw_allow, list):
        problems.append(("allow", "expected an array of tables ([[tool.taskguard.allow]])"))
        raw_allow = []
    for i, entry in enumerate(raw_allow):
        where = f"allow[{i}]"
        if not isinstance(entry, dict):
            problems.append((where, f"expected a table, got {type(entry).__name__}"))
            continue
        ok = True
        for key in entry:
            if key not in ALLOW_KEYS:
                problems.append((f"{where}.{key}", f"unknown key{_suggest(key, ALLOW_KEYS)}"))
                ok = False
        for key in ALLOW_KEYS:
            value = entry.get(key)
            if value is None:
                why = " (say why the exception exists)" if key == "reason" else ""
                problems.append((f"{where}.{key}", f"missing{why}"))
                ok = False
            elif not isinstance(value, str) or not value.strip():
                problems.append((f"{where}.{key}", "expected a non-empty string"))
                ok = False
            elif key != "reason" and (problem := pattern_problem(value)) is not None:
                problems.append((f"{where}.{key}", problem))
                ok = False
        if ok:
            from taskguard._allow import AllowEntry  # see there: built for a table with one

            allow.append(AllowEntry(entry["importer"], entry["imported"], entry["reason"]))
    kwargs["allow"] = tuple(allow)

    dispatch_modules = list(kwargs.get("dispatch_modules", DEFAULT_DISPATCH_MODULES))
    for i, dist in enumerate(kwargs.get("dispatch_distributions", ())):
        from taskguard._distributions import distribution_packages  # only with a distribution

        try:
            provided = distribution_packages(dist)
        except LookupError as exc:
            problems.append((f"dispatch-distributions[{i}]", str(exc)))
            continue
        if not provided:
            problems.append(
                (f"dispatch-distributions[{i}]", f"distribution {dist!r} provides no modules")
            )
        dispatch_modules.extend(p for p in provided if p not in dispatch_modules)
    kwargs["dispatch_modules"] = tuple(dispatch_modules)

    if problems:
        raise PolicyError(problems, str(source) if source else None)

    if "root_packages" not in kwargs and project_root is not None:
        kwargs["root_packages"] = discover_root_packages(project_root, kwargs.get("exclude", ()))
    return Policy(project_root=project_root, source=source, **kwargs)


def load_policy(
    path: str | os.PathLike[str] | None = None, *, config: str | os.PathLike[str] | None = None
) -> Policy:
    """Load the policy for ``path`` (default: the working directory).

    ``config`` names the TOML file explicitly; otherwise the nearest ``pyproject.toml`` at or
    above ``path`` is used. No ``[tool.taskguard]`` table means the defaults. Raises
    :class:`PolicyError` for an unreadable file or an invalid table.
    """
    start, source = locate_policy(path, config=config)
    if source is None:
        root = _resolved(start if start.is_dir() else start.parent)
        return policy_from_table({}, project_root=root)
    return policy_from_document(read_toml(source), source, explicit=config is not None)


def locate_policy(
    path: str | os.PathLike[str] | None = None, *, config: str | os.PathLike[str] | None = None
) -> tuple[Path, Path | None]:
    """The start directory of :func:`load_policy` and the TOML file it reads (None: none)."""
    start = Path(path) if path is not None else Path.cwd()
    if config is not None:
        source = _resolved(Path(config))
        if not source.is_file():
            raise PolicyError([("--config", f"no such file: {config}")])
        return start, source
    return start, find_pyproject(start)


def read_toml(source: Path) -> dict[str, Any]:
    """The TOML document in ``source``; PolicyError when it cannot be read or parsed."""
    # Imported here, not at module level: the CLI's cached path and the runtime guard's
    # import stay light, and only a run that reads a file pays for the TOML parser.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        document: dict[str, Any] = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([(source.name, f"cannot read: {exc}")], str(source)) from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([(source.name, f"invalid TOML: {exc}")], str(source)) from None
    return document


def near_miss_tables(tool: Mapping[str, Any]) -> list[str]:
    """The ``[tool.*]`` tables whose name is a near miss of ``taskguard`` (``taskgaurd``,
    ``task-guard``, ``TaskGuard``, ``taskguards``): their settings would silently not apply.

    A near miss: the same letters once case, ``-``, ``_`` and ``.`` are set aside, or at
    most two edits (a transposition counting as one) away from ``taskguard``.
    """
    return sorted(name for name in tool if name != "taskguard" and _near_taskguard(name))


# "Near": two typos at most.
_NEAR = 2


def _near_taskguard(name: str) -> bool:
    folded = "".join(c for c in name.lower() if c not in "-_.")
    if folded == "taskguard":
        return True
    return _edits(folded, "taskguard") <= _NEAR


def _edits(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment) of two short strings."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def policy_from_document(document: Mapping[str, Any], source: Path, *, explicit: bool) -> Policy:
    """The policy in the TOML ``document`` read from ``source`` (``explicit``: ``--config``,
    which must hold a ``[tool.taskguard]`` table)."""
    tool = document.get("tool", {})
    misspelt = near_miss_tables(tool) if isinstance(tool, dict) else []
    if misspelt:
        problems = [
            (f"tool.{name}", f"[tool.{name}] is not read: did you mean [tool.taskguard]?")
            for name in misspelt
        ]
        raise PolicyError(problems, str(source))
    table = tool.get("taskguard") if isinstance(tool, dict) else None
    if table is None:
        if explicit:
            raise PolicyError([("tool.taskguard", "no [tool.taskguard] table")], str(source))
        table = {}
    elif not isinstance(table, dict):
        raise PolicyError([("tool.taskguard", "expected a table")], str(source))
    return policy_from_table(table, project_root=source.parent, source=source)
