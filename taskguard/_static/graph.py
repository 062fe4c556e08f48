"""TG004: protected modules that reach a forbidden module through first-party imports."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from taskguard._policy import Policy, decide
from taskguard._rules import TG004
from taskguard._static.records import Finding, ImportRef, Record


def _parents(name: str) -> Iterator[str]:
    while "." in name:
        name = name.rpartition(".")[0]
        yield name


def indirect(
    policy: Policy,
    graph_records: dict[str, Record],
    origins: Iterable[str],
) -> dict[str, list[Finding]]:
    """TG004 findings per origin module: protected modules reaching a forbidden module.

    The graph holds first-party modules; importing ``a.b.c`` also runs the ``__init__`` of
    ``a.b`` and ``a`` (unless they are the importer's own packages). One finding per origin
    and forbidden name, at the import that starts the shortest chain. A sanctioned module
    importing a dispatch library is the sanctioned path, not a violation.
    """
    edges: dict[str, dict[str, ImportRef]] = {}
    sources: dict[str, set[str]] = {}
    direct: dict[str, set[str]] = {}
    for module, record in graph_records.items():
        out: dict[str, ImportRef] = {}
        ancestors = set(_parents(module))
        for ref in record.imports or ():
            name = ref.name
            if policy.is_forbidden_in_protected(name):
                direct.setdefault(module, set()).add(name)
                if not (policy.is_sanctioned(module) and policy.is_dispatch_module(name)):
                    sources.setdefault(name, set()).add(module)
            for target in (name, *_parents(name)):
                if target in graph_records and target != module and target not in ancestors:
                    previous = out.get(target)
                    if previous is None or (ref.line, ref.column) < (
                        previous.line,
                        previous.column,
                    ):
                        out[target] = ref
        edges[module] = out
    if not sources:
        return {}
    reverse: dict[str, list[str]] = {}
    for module, out in edges.items():
        for target in out:
            reverse.setdefault(target, []).append(module)
    # Per forbidden name: distance and next hop of every module that reaches it.
    hops: dict[str, dict[str, str | None]] = {}
    for name, importers in sources.items():
        nxt: dict[str, str | None] = dict.fromkeys(importers)
        frontier = sorted(importers)
        while frontier:
            following = []
            for node in frontier:
                for importer in sorted(reverse.get(node, ())):
                    if importer not in nxt:
                        nxt[importer] = node
                        following.append(importer)
            frontier = following
        hops[name] = nxt

    def chain(start: str, name: str) -> list[str]:
        out = [start]
        step = hops[name][start]
        while step is not None:
            out.append(step)
            step = hops[name][step]
        return out

    results: dict[str, list[Finding]] = {}
    for origin in origins:
        if origin not in edges or not policy.is_protected(origin):
            continue
        mine = {_forbidden_module(policy, name) for name in direct.get(origin, ())}
        # One report per (protected module, forbidden module): the names a pattern forbids
        # (``multiprocessing.pool``, ``multiprocessing.queues``) are one forbidden module,
        # the shortest forbidden prefix of each (``multiprocessing``).
        best_per_module: dict[str, list[tuple[tuple[int, int, str, str], str]]] = {}
        for name, nxt in sorted(hops.items()):
            forbidden = _forbidden_module(policy, name)
            if forbidden in mine:
                continue  # the direct import is TG002's business
            best: tuple[int, int, str] | None = None
            for target, ref in edges[origin].items():
                if target in nxt:
                    length = len(chain(target, name))
                    candidate = (length, ref.line, target)
                    if best is None or candidate < best:
                        best = candidate
            if best is not None:
                best_per_module.setdefault(forbidden, []).append(((*best, name), name))
        for forbidden, candidates in sorted(best_per_module.items()):
            found = _one_per_module(policy, origin, forbidden, candidates, edges, chain)
            results.setdefault(origin, []).extend(found)
    return results


def _forbidden_module(policy: Policy, name: str) -> str:
    """The shortest prefix of ``name`` that the policy forbids (``name`` itself at worst)."""
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if policy.is_forbidden_in_protected(prefix):
            return prefix
    return name


def _one_per_module(  # noqa: PLR0917 - private, one call site
    policy: Policy,
    origin: str,
    forbidden: str,
    candidates: list[tuple[tuple[int, int, str, str], str]],
    edges: dict[str, dict[str, ImportRef]],
    chain: Callable[[str, str], list[str]],
) -> list[Finding]:
    """The TG004 of ``origin`` reaching ``forbidden``: one finding, through the shortest
    chain to a name no allow entry excuses; plus one per allow entry that excuses a chain
    (those are no violation: they only mark the entry used, for TG005)."""
    out: list[Finding] = []
    reported = False
    used: set[int] = set()
    for (_length, _line, target, name), _same in sorted(candidates):
        verdict = decide(policy, origin, name)
        allow = (
            -1
            if verdict is None or verdict.allowed_by is None
            else policy.allow.index(verdict.allowed_by)
        )
        if (allow == -1 and reported) or (allow != -1 and allow in used):
            continue
        path = [origin, *chain(target, name), name]
        ref = edges[origin][target]
        message = TG004.template.format(
            importer=origin, imported=forbidden, chain=" -> ".join(path)
        )
        out.append(
            Finding(
                ref.line,
                ref.column,
                ref.statement_line,
                TG004.code,
                forbidden,
                message,
                allow,
                tuple(path),
            )
        )
        if allow == -1:
            reported = True
        else:
            used.add(allow)
    return out
