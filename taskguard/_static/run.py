"""One run of the static checker, in named phases.

1. :func:`_scope`: the files the run reports on, and the files whose records it needs.
2. :func:`_plan_from_cache`: the records the cache still holds, and the files left to analyse.
3. :func:`_analyse`: the records of those files (see ``source``, ``parallel``); then the
   directories that changed are written back to the cache (``cached.store``).
4. :func:`_judge`: findings become violations, unless an allow entry or an inline
   suppression excuses them; TG004 chains are added; stale suppressions are TG005.
5. :func:`_stale_allow_entries`: allow entries that excused nothing are TG005.

Only the CLI prints; everything here returns data.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from taskguard import _cache
from taskguard._cache import STAMPS
from taskguard._errors import RuleSelectionError
from taskguard._policy import Policy, matches
from taskguard._rules import RULES, TG005, TG900, Violation
from taskguard._static.cached import Rewrite, StoredRecords, load_policy_cached, serve, store
from taskguard._static.discover import (
    Listing,
    SourceFile,
    collect,
    display_path,
    displayer,
    walk,
)
from taskguard._static.pyparse import CollectorPaused
from taskguard._static.records import (
    FAILED,
    SKIPPED_GRAPH_RECORD,
    SKIPPED_RECORD,
    CheckResult,
    Finding,
    Record,
)

# How much of each file a run parses and analyses.
FULL = "full"  # the reference: every file parsed, every statement and expression analysed
PARSE_ALL = "parse-all"  # every file parsed; the prefilter decides which need the analysis
PREFILTER = "prefilter"  # the default: files the prefilter rules out are not parsed at all
MODES = (FULL, PARSE_ALL, PREFILTER)

if TYPE_CHECKING:
    from taskguard._memo import Trail


def check(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    policy: Policy | None = None,
    config: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    select: Iterable[str] | str | None = None,
    parse_all: bool = False,
    jobs: int | None = None,
    prefilter: bool | None = None,
    baseline: bool = False,
) -> CheckResult:
    """Check ``paths`` (default: the whole project) against the policy.

    ``policy`` defaults to :func:`load_policy` for the first path (or ``config``).
    ``select`` keeps only the given rule codes in the result. The byte prefilter decides
    which files are parsed: a file it rules out cannot hold an import the policy judges, and
    one it passes that cannot be read or parsed is TG900. ``parse_all=True`` (``--parse-all``)
    parses every file, so that a syntax error anywhere is TG900. ``jobs`` forces the number
    of worker processes (default: parallel only when it pays). ``baseline=True`` reads the
    policy's baseline file when it exists (see ``taskguard._baseline``): the violations it
    records move to ``CheckResult.baselined``, stale entries become TG005. Raises
    :class:`PolicyError` for an invalid policy, ``FileNotFoundError`` for a missing path,
    :class:`RuleSelectionError` (a ``ValueError``) for an unknown code in ``select`` or a
    ``select`` that names no code at all, and :class:`BaselineError` (a ``ValueError``) for
    a baseline file that cannot be read or trusted.

    ``prefilter`` is deprecated (a ``DeprecationWarning``): ``prefilter=True`` is the
    default now, ``prefilter=False`` is ``parse_all=True``.
    """
    if prefilter is not None:
        warnings.warn(
            "check(prefilter=...) is deprecated: the prefilter is the default; "
            "use check(parse_all=True) to parse every file",
            DeprecationWarning,
            stacklevel=2,
        )
        parse_all = parse_all or not prefilter
    return run_check(
        paths,
        policy=policy,
        config=config,
        use_cache=use_cache,
        select=select,
        mode=PARSE_ALL if parse_all else PREFILTER,
        jobs=jobs,
        baseline=baseline,
    )


def run_check(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    policy: Policy | None = None,
    config: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    select: Iterable[str] | str | None = None,
    mode: str = PREFILTER,
    jobs: int | None = None,
    baseline: bool = False,
    trail: Trail | None = None,
) -> CheckResult:
    """:func:`check` with the analysis ``mode`` spelled out (``FULL`` for the reference).

    ``trail`` (the CLI's, for the verdict memo) receives what the run read."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    # Parsing allocates many objects and no cycles: collections during a run cost time and
    # free nothing. Paused for every thread's run at once (see pyparse): a save-and-restore
    # per run let the first of overlapping runs turn the collector on under the others.
    with CollectorPaused():
        return _run_check(paths, policy, config, use_cache, select, mode, jobs, baseline, trail)


def _validate_select(select: Iterable[str] | str | None) -> frozenset[str] | None:
    if select is None:
        return None
    raw = select.split(",") if isinstance(select, str) else list(select)
    codes = frozenset(c.strip().upper() for c in raw if c.strip())
    unknown = sorted(codes - RULES.keys())
    if unknown or not codes:
        raise RuleSelectionError(tuple(unknown), tuple(sorted(RULES)))
    return codes


def _run_check(  # noqa: PLR0917 - one private call site
    paths: Sequence[str | os.PathLike[str]] | None,
    policy: Policy | None,
    config: str | os.PathLike[str] | None,
    use_cache: bool,
    select: Iterable[str] | str | None,
    mode: str,
    jobs: int | None,
    baseline: bool,
    trail: Trail | None,
) -> CheckResult:
    codes = _validate_select(select)
    if policy is None:
        policy = load_policy_cached(paths[0] if paths else None, config, use_cache, trail)
    scope = _scope(paths, policy, trail)
    fingerprint = _cache.fingerprint(policy) if use_cache else ""
    cached = _cache.load(scope.root, fingerprint) if use_cache else _cache.Entries.empty()
    plan = _plan_from_cache(scope, cached, mode, policy.indirect)
    cwd = os.getcwd()
    if plan.todo:
        _analyse(plan, policy, mode, jobs, scope.root if use_cache else None)
    if use_cache and (
        plan.todo or plan.rewrites or (scope.whole and len(cached.dirs) != len(scope.listings))
    ):
        present = scope.listings if scope.whole or policy.indirect else None
        store(scope.root, fingerprint, cached, plan.rewrites, present)
    violations, allow_used = _judge(plan.found, scope, policy, displayer(scope.root, cwd))
    violations += _unlisted(scope, cwd)
    # The modules whose files could not be judged (TG900): no entry of theirs is called stale.
    unjudged = _unjudged(plan.found, policy, mode)
    if scope.whole and policy.allow:
        violations += _stale_allow_entries(policy, allow_used, unjudged, cwd)
    if trail is not None:
        trail.failed = any(
            finding.code == TG900.code and not _lasting(finding.message)
            for _f, record in plan.found
            for finding in record.findings
        )
        trail.policy = policy
        trail.root = scope.root
        trail.listings = [(x.directory, x.names, x.stats) for x in scope.listings.values()]
    # The baseline is matched against every violation, before --select: an entry of a code
    # that is not selected is still used.
    baselined: list[Violation] = []
    baseline_shown = None
    read_baseline = baseline and os.path.lexists(policy.baseline_path)
    if trail is not None:
        trail.baseline_read = read_baseline if baseline else None
    if read_baseline:
        from taskguard._baseline import apply

        if trail is not None:
            trail.note(str(policy.baseline_path))

        baseline_shown = display_path(str(policy.baseline_path), cwd)
        violations, baselined = apply(
            violations,
            policy.baseline_path,
            baseline_shown,
            judge_stale=scope.whole,
            cwd=cwd,
            unjudged=unjudged,
        )
    if codes is not None:
        violations = [v for v in violations if v.code in codes]
        baselined = [v for v in baselined if v.code in codes]
    files_checked = sum(len(listing.names) for listing in scope.reported.values())
    empty = ""
    if not files_checked:
        # Imported here: only a run that found nothing looks again, to say why.
        from taskguard._static.empty import why_nothing

        empty = why_nothing(scope.targets, policy, scope.root, cwd)
    return CheckResult(
        tuple(sorted(violations)),
        files_checked,
        tuple(sorted(baselined)),
        baseline_shown,
        empty_reason=empty,
    )


def _unlisted(scope: _Scope, cwd: str) -> list[Violation]:
    """TG900 for each directory the walk could not list: it may hold first-party modules
    that were not checked (fail closed, never a silent pass)."""
    display = displayer(scope.root, cwd)
    out = []
    for rel_dir, error in sorted(scope.unlisted.items()):
        shown = display(rel_dir) if rel_dir else display_path(scope.root, cwd)
        message = TG900.template.format(action="list", path=shown, error=error)
        out.append(Violation(shown, 1, 1, TG900.code, None, None, message))
    return out


def _lasting(message: str) -> bool:
    """Whether a TG900 says something lasting about the file's bytes, so that a run reporting
    it may be replayed (``taskguard._memo``): a file that does not parse fails the same way
    until its stamps change; one that could not be read or analysed (an I/O error, a worker
    that died, memory running out) may not fail next time."""
    return message.startswith("could not parse ") and "MemoryError" not in message


# --------------------------------------------------------------------------- 1. scope


class _Scope(NamedTuple):
    root: str  # the project root: cache keys and module names are relative to it
    targets: list[str]  # the paths asked for, absolute
    whole: bool  # the paths cover the whole project (so stale allow entries can be told)
    reported: dict[str, Listing]  # per directory, the files the result is about
    listings: dict[str, Listing]  # the files whose records are needed (the whole project
    # for TG004's graph, which runs through every first-party module)
    unlisted: dict[str, str]  # directories the walk could not list -> why (TG900)


def _scope(
    paths: Sequence[str | os.PathLike[str]] | None, policy: Policy, trail: Trail | None = None
) -> _Scope:
    root = os.path.abspath(policy.project_root) if policy.project_root else os.getcwd()
    targets = [os.path.abspath(p) for p in paths] if paths else [root]
    for target in targets:
        if not os.path.exists(target):
            raise FileNotFoundError(2, "no such file or directory", os.fspath(target))
    whole = any(t == root or root.startswith(t.rstrip(os.sep) + os.sep) for t in targets)
    unlisted: dict[str, str] = {}
    reported = collect(walk(targets, policy, root, trail, unlisted), {})
    listings = reported
    if policy.indirect and not whole:
        # What the graph could not see is reported too: a chain may run through it.
        listings = collect(walk([root], policy, root, trail, unlisted), dict(reported))
    return _Scope(root, targets, whole, reported, listings, unlisted)


# --------------------------------------------------------------------------- 2. plan


class _Plan:
    """What the cache answers, and what is left to analyse."""

    __slots__ = ("found", "rewrites", "slots", "todo")

    def __init__(self) -> None:
        # Every file whose record matters (findings or suppressions; all of them for TG004).
        self.found: list[tuple[SourceFile, Record]] = []
        self.todo: list[SourceFile] = []
        # Where each file of ``todo`` goes in the cache.
        self.slots: list[tuple[Rewrite, int]] = []
        self.rewrites: dict[str, Rewrite] = {}


def _plan_from_cache(scope: _Scope, cached: _cache.Entries, mode: str, graph: bool) -> _Plan:
    plan = _Plan()
    parse_all = mode != PREFILTER
    skipped = SKIPPED_GRAPH_RECORD if graph else SKIPPED_RECORD
    stored = StoredRecords()
    for rel_dir, listing in scope.listings.items():
        directory, package, names, stats, complete = listing
        packed = array("q", stats)
        known = cached.dirs.get(rel_dir)
        if known is not None and known.names == names and known.stats == packed.tobytes():
            whole = _served_as_stored(stored, known.common, known.others, parse_all, skipped)
            if whole is not None:
                # The whole directory is unchanged and served as stored: the usual case.
                # Only the files whose record differs from the common one, unless that matters.
                common, others = whole
                chosen = range(len(names)) if common.matters(graph) else others
                for i in chosen:
                    unchanged = others.get(i, common)
                    if unchanged.matters(graph):
                        name = names[i]
                        rel = f"{rel_dir}/{name}" if rel_dir else name
                        path = f"{directory}{os.sep}{name}"
                        same = SourceFile(path, rel, package, name[:-3], stats[STAMPS * i], 0)
                        plan.found.append((same, unchanged))
                continue
        # Per file: some files changed, or the directory is new or listed differently.
        index: dict[str, int] = {}
        old = array("q")
        if known is not None:
            index = {name: i for i, name in enumerate(known.names)}
            old.frombytes(known.stats)
        rewrite = Rewrite(names, packed, complete)
        # A complete listing replaces what the cache knows of the directory (files gone, or
        # listed in another order, which would defeat the comparison above next time).
        dirty = complete and known is not None and known.names != names
        for j, name in enumerate(names):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            at = STAMPS * j
            file = SourceFile(
                f"{directory}{os.sep}{name}", rel, package, name[:-3], stats[at], stats[at + 2]
            )
            before = index.get(name)
            served: Record | None = None
            if (
                before is not None
                and old[STAMPS * before : STAMPS * before + STAMPS] == packed[at : at + STAMPS]
            ):
                assert known is not None
                record = stored(known.others.get(before, known.common))
                served = serve(record, parse_all, skipped)
                rewrite.kept[j] = record
            if served is None:
                plan.todo.append(file)
                plan.slots.append((rewrite, j))
                dirty = True
            elif served.matters(graph):
                plan.found.append((file, served))
        if dirty:
            plan.rewrites[rel_dir] = rewrite
    return plan


def _served_as_stored(
    stored: StoredRecords,
    common: Any,
    others: dict[int, Any],
    parse_all: bool,
    skipped: Record,
) -> tuple[Record, dict[int, Record]] | None:
    """A directory's records when the run takes every one of them as stored, else None."""
    record = stored(common)
    if record is None or serve(record, parse_all, skipped) is not record:
        return None
    converted: dict[int, Record] = {}
    for i, raw in others.items():
        other = stored(raw)
        if other is None or serve(other, parse_all, skipped) is not other:
            return None
        converted[i] = other
    return record, converted


# --------------------------------------------------------------------------- 3. analyse


def _analyse(
    plan: _Plan, policy: Policy, mode: str, jobs: int | None, cache_root: str | None
) -> None:
    """Analyse ``plan.todo``; ``cache_root`` (None: no cache) gets the new syntax verdicts,
    and the plan's rewrites the records to store."""
    # Imported here: a cached run analyses nothing, and the analysis is most of the checker.
    from taskguard._static.parallel import analyze_all
    from taskguard._static.prefilter import Prefilter
    from taskguard._static.source import Job, SyntaxMemo, Task

    graph = policy.indirect
    prefilter = None if mode == FULL else Prefilter(policy, graph=graph)
    syntax = None
    if cache_root is not None and mode == PARSE_ALL:
        syntax = SyntaxMemo(_cache.load_syntax(cache_root))
    # Analysed under the project-relative path: records are cached whatever the working
    # directory, and the reported path is put into TG900 messages by _judge.
    fresh = analyze_all(
        [Task(f.path, f.rel, f.module, f.is_package, f.size) for f in plan.todo],
        Job(policy, prefilter, graph, mode != PREFILTER, syntax),
        jobs,
    )
    for f, record in zip(plan.todo, fresh, strict=True):
        if record.matters(graph):
            plan.found.append((f, record))
    if cache_root is None:
        return
    # A file written within the filesystem's timestamp granularity of our read could change
    # again without its stamps changing: such "racy" files are not cached. Nor is a file
    # whose analysis failed (a worker killed, a checker bug): that says nothing about it.
    racy_after = time.time_ns() - _cache.RACY_NS
    for f, record, (rewrite, j) in zip(plan.todo, fresh, plan.slots, strict=True):
        keep = f.mtime_ns < racy_after and not record.analysis_failed()
        rewrite.kept[j] = record if keep else None
    if syntax is not None and syntax.learned:
        syntax.known.update(syntax.learned)
        _cache.save_syntax(cache_root, syntax.known)


# --------------------------------------------------------------------------- 4. judge


def _judge(
    found: list[tuple[SourceFile, Record]],
    scope: _Scope,
    policy: Policy,
    display: Callable[[str], str],
) -> tuple[list[Violation], set[int]]:
    """The violations of the reported files, and the indexes of the allow entries used."""
    graph = policy.indirect
    if graph and not scope.whole:
        wanted = {
            f"{rel_dir}/{name}" if rel_dir else name
            for rel_dir, listing in scope.reported.items()
            for name in listing.names
        }
        shown_files = [(f, record) for f, record in found if f.rel in wanted]
    else:
        shown_files = found
    chains: dict[str, list[Finding]] = {}
    if graph:
        # Imported here: only runs with ``indirect = true`` build the graph.
        from taskguard._static.graph import indirect

        by_module = {f.module: record for f, record in found}
        chains = indirect(policy, by_module, (f.module for f, _r in shown_files))
    violations: list[Violation] = []
    allow_used: set[int] = set()
    for f, record in shown_files:
        findings = [*record.findings, *chains.get(f.module, ())] if graph else record.findings
        if findings or record.suppressions:
            violations += _file_violations(f, findings, record, display(f.rel), allow_used)
    return violations, allow_used


def _file_violations(
    f: SourceFile,
    findings: Sequence[Finding],
    record: Record,
    shown: str,
    allow_used: set[int],
) -> list[Violation]:
    """One file's findings that no allow entry or suppression excuses, and its TG005s."""
    suppressions = record.suppressions
    out: list[Violation] = []
    used: list[set[str]] = [set() for _ in suppressions]
    by_line: dict[int, list[int]] = {}
    for i, suppression in enumerate(suppressions):
        if not suppression.problem:
            by_line.setdefault(suppression.line, []).append(i)
    for finding in findings:
        code = finding.code
        if finding.allow_index >= 0:
            allow_used.add(finding.allow_index)
            continue
        hit = next(
            (
                i
                for ln in dict.fromkeys((finding.line, finding.statement_line))
                for i in by_line.get(ln, ())
                if code in suppressions[i].codes and code != TG900.code
            ),
            None,
        )
        if hit is not None:
            used[hit].add(code)
            continue
        importer = None if code == TG900.code else f.module
        text = finding.message
        if code == TG900.code and shown != f.rel:
            # Records name the project-relative path; report the one the user sees.
            text = text.replace(f" {f.rel}: ", f" {shown}: ", 1)
        out.append(
            Violation(
                shown,
                finding.line,
                finding.column,
                code,
                importer,
                finding.imported,
                text,
                finding.chain,
            )
        )
    for suppression, done in zip(suppressions, used, strict=True):
        if suppression.problem:
            what = f"inline suppression ({suppression.problem})"
        else:
            unused = [c for c in suppression.codes if c not in done]
            if not unused:
                continue
            what = f"inline suppression ignore[{','.join(unused)}]"
        message = TG005.template.format(what=what)
        out.append(Violation(shown, suppression.line, 1, TG005.code, f.module, None, message))
    return out


# --------------------------------------------------------------------------- 5. stale entries


def _unjudged(found: Sequence[tuple[SourceFile, Record]], policy: Policy, mode: str) -> set[str]:
    """The modules whose file is TG900 and could hold an import the policy judges: what
    they import is unknown. A file the prefilter rules out holds none whatever its syntax, so
    every mode agrees: the default mode does not parse it, ``--parse-all`` records it as
    BROKEN (not FAILED), and the reference mode (``FULL``, which analyses every file) asks
    the prefilter here."""
    failed = [f for f, record in found if record.status == FAILED]
    if not failed or mode != FULL:
        return {f.module for f in failed}
    from taskguard._static.prefilter import Prefilter

    prefilter = Prefilter(policy, graph=policy.indirect)
    out: set[str] = set()
    for f in failed:
        if not os.path.isfile(f.path):  # a FIFO, a device: never opened here (it may block)
            out.add(f.module)
            continue
        try:
            with open(f.path, "rb") as fh:
                data = fh.read()
        except OSError:
            out.add(f.module)
            continue
        if prefilter.needs_parse(data, f.module, policy.is_protected(f.module)):
            out.add(f.module)
    return out


def _stale_allow_entries(
    policy: Policy, allow_used: set[int], unjudged: set[str], cwd: str
) -> list[Violation]:
    """TG005 for each allow entry that excused nothing (whole-project runs only).

    Not for an entry whose importer could not be judged (a file of it is TG900: the import
    the entry excuses may well be there), nor for any entry when TG004's graph misses a
    module (a chain the entry excuses may run through it): "remove it" would be wrong.
    """
    if unjudged and policy.indirect:
        return []
    source = display_path(str(policy.source), cwd) if policy.source else "pyproject.toml"
    out: list[Violation] = []
    for i, (entry, line) in enumerate(zip(policy.allow, _allow_lines(policy), strict=True)):
        if any(matches(entry.importer, module) for module in unjudged):
            continue
        if i not in allow_used:
            what = f"allow entry {entry.importer} -> {entry.imported}"
            message = TG005.template.format(what=what)
            out.append(
                Violation(source, line, 1, TG005.code, entry.importer, entry.imported, message)
            )
    return out


_ALLOW_TABLE = re.compile(r"(?m)^[ \t]*\[\[[ \t]*tool\.taskguard\.allow[ \t]*\]\]")
_ALLOW_KEY = re.compile(r"(?m)^[ \t]*allow[ \t]*=")


def _allow_lines(policy: Policy) -> list[int]:
    """The line of each ``[[tool.taskguard.allow]]`` entry in the policy file (best effort)."""
    if policy.source is None:
        return [1] * len(policy.allow)
    try:
        text = policy.source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return [1] * len(policy.allow)
    lines = [text.count("\n", 0, m.start()) + 1 for m in _ALLOW_TABLE.finditer(text)]
    if len(lines) != len(policy.allow):
        found = _ALLOW_KEY.search(text)
        first = text.count("\n", 0, found.start()) + 1 if found else 1
        lines = [first] * len(policy.allow)
    return lines
