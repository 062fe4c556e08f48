"""The checker's side of the cache: records converted at the boundary, what a stored record
gives a run, and writing back the directories that changed.

The cache (``taskguard._cache``) stores plain tuples; everything here hands the rest of the
checker :class:`Record` objects, and turns them back into tuples to store them.
"""

from __future__ import annotations

import os
from array import array
from typing import TYPE_CHECKING, Any

from taskguard import _cache, _policy
from taskguard._cache import STAMPS
from taskguard._policy import Policy
from taskguard._static.discover import Listing
from taskguard._static.records import (
    BROKEN,
    FAILED,
    PREFIX,
    SKIPPED,
    Record,
    from_plain,
    plain,
)

if TYPE_CHECKING:
    from taskguard._memo import Trail


class StoredRecords:
    """Records read from the cache, each converted once.

    The cache writes records equal in value as one object (most files of a project share
    the "nothing here" record), so converting by identity converts each of them once.
    """

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        # id(raw) -> (raw, record): holding ``raw`` keeps its id from being reused.
        self._memo: dict[int, tuple[Any, Record | None]] = {}

    def __call__(self, raw: Any) -> Record | None:
        """The record stored as ``raw``; None when it has another shape (analyse again)."""
        hit = self._memo.get(id(raw))
        if hit is not None:
            return hit[1]
        try:
            record: Record | None = from_plain(raw)
        except (TypeError, ValueError):
            record = None
        self._memo[id(raw)] = (raw, record)
        return record


def serve(hit: Record | None, parse_all: bool, skipped: Record) -> Record | None:
    """What a cached record gives a run: itself, another record, or None (analyse again).

    The prefilter mode leaves some files unparsed (SKIPPED) or parsed up to their last
    import (PREFIX): no answer for runs that parse every file. It would not have parsed a file
    that is only checked for syntax (BROKEN). A file that failed (FAILED) failed the same way
    in every mode, except that building TG004's graph (``skipped.imports`` is not None) the
    prefilter mode may parse less of it than a run that parses every file.
    """
    if hit is None:
        return None
    status = hit.status
    if parse_all:
        return None if status in (SKIPPED, PREFIX) else hit
    if status == BROKEN:
        return skipped
    if status == FAILED and skipped.imports is not None:
        return None
    return hit


class Rewrite:
    """A directory whose cache entry changes: its listing, and the record kept per file."""

    __slots__ = ("complete", "kept", "names", "stats")

    def __init__(self, names: list[str], stats: array[int], complete: bool) -> None:
        self.names = names
        self.stats = stats
        self.complete = complete
        # The record to store for names[i]; None: store nothing (not analysed yet, or racy).
        self.kept: list[Record | None] = [None] * len(names)


def store(
    root: str,
    fingerprint: str,
    cached: _cache.Entries,
    rewrites: dict[str, Rewrite],
    present: dict[str, Listing] | None,
) -> None:
    """Write the changed directories into the cache; ``present`` (a whole-project run)
    also drops the directories that are gone."""
    dirs = dict(cached.dirs)
    changed = False
    if present is not None:
        for rel_dir in [rel_dir for rel_dir in dirs if rel_dir not in present]:
            del dirs[rel_dir]
            changed = True
    plain_of: dict[Record, tuple[Any, ...]] = {}
    for rel_dir, rewrite in rewrites.items():
        names: list[str] = []
        stats = array("q")
        records: list[Any] = []
        for i, record in enumerate(rewrite.kept):
            if record is not None:
                names.append(rewrite.names[i])
                stats.extend(rewrite.stats[STAMPS * i : STAMPS * i + STAMPS])
                raw = plain_of.get(record)
                if raw is None:
                    raw = plain_of[record] = plain(record)
                records.append(raw)
        old = dirs.get(rel_dir)
        if old is not None and not rewrite.complete:
            # Only some files of the directory were checked: keep what is known of the rest.
            listed = set(rewrite.names)
            old_stats = array("q")
            old_stats.frombytes(old.stats)
            for i, name in enumerate(old.names):
                if name not in listed:
                    names.append(name)
                    stats.extend(old_stats[STAMPS * i : STAMPS * i + STAMPS])
                    records.append(old.others.get(i, old.common))
        entry = _cache.pack(names, stats, records) if names else None
        if entry is None:
            changed = dirs.pop(rel_dir, None) is not None or changed
        elif entry != old:
            dirs[rel_dir] = entry
            changed = True
    if changed:
        _cache.save(root, fingerprint, _cache.Entries(dirs))


def load_policy_cached(
    path: str | os.PathLike[str] | None,
    config: str | os.PathLike[str] | None,
    use_cache: bool,
    trail: Trail | None = None,
) -> Policy:
    """:func:`load_policy`, with the TOML table read from ``policy.bin`` when it is current;
    ``trail`` learns whether the root packages were discovered."""
    if not use_cache:
        return _policy.load_policy(path, config=config)
    if trail is not None:
        # The symlinks that choose the policy, resolved as the run follows them.
        trail.resolved = [
            (os.fspath(p), os.path.realpath(p)) for p in (path, config) if p is not None
        ]
    _start, source = _policy.locate_policy(path, config=config)
    if source is None:
        if trail is not None:
            trail.discovered = True
        return _policy.load_policy(path, config=config)
    if trail is not None:
        trail.note(str(source))  # before it is read: the memo stores only what was read
    root = str(source.parent)
    key = _cache.table_key(str(source))
    if key is not None:
        hit, document = _cache.load_table(root, key)
        if hit:
            if trail is not None:
                trail.discovered = _discovers_roots(document)
            return _policy.policy_from_document(document, source, explicit=config is not None)
    document = _policy.read_toml(source)
    if trail is not None:
        trail.discovered = _discovers_roots(document)
    if key is not None:
        tool = document.get("tool")
        # The table, and any misspelt twin of it (an error that must stay one when cached).
        names = ["taskguard", *_policy.near_miss_tables(tool)] if isinstance(tool, dict) else []
        kept = (
            {"tool": {name: tool[name] for name in names if name in tool}}
            if isinstance(tool, dict) and any(name in tool for name in names)
            else {}
        )
        _cache.save_table(root, key, kept)
    return _policy.policy_from_document(document, source, explicit=config is not None)


def _discovers_roots(document: Any) -> bool:
    """Whether the policy in ``document`` leaves its root packages to be discovered."""
    tool = document.get("tool") if isinstance(document, dict) else None
    table = tool.get("taskguard") if isinstance(tool, dict) else None
    return not (isinstance(table, dict) and "root-packages" in table)
