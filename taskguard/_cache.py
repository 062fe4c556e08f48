"""The per-file result cache of ``taskguard check`` under ``.taskguard_cache/``.

One file per policy fingerprint maps each project-relative path to ``(mtime_ns, size,
record)``; a record is only reused while the file's (mtime, size) is unchanged. The
fingerprint covers the policy, taskguard's version and its checker sources, and the Python
minor version (the grammar differs), so any of those changing starts a fresh cache.
``marshal`` is used because it is the fastest way to load plain tuples and dicts; the cache is
local build output, never shared, and a file that fails to load is simply ignored.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
from array import array
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskguard._policy import Policy

CACHE_DIR = ".taskguard_cache"
FORMAT = 3
RACY_NS = 2_000_000_000
# Fingerprints of other policies (indirect on/off, another config) kept side by side.
KEEP = 4
_SOURCES = ("_static.py", "_policy.py", "_rules.py", "_cache.py")


def fingerprint(policy: Policy) -> str:
    try:
        # The builtin module behind hashlib.blake2b: importing hashlib loads OpenSSL, which
        # costs more than a cached check of a small project.
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - CPython built without it
        from hashlib import blake2b

    from taskguard import __version__

    here = os.path.dirname(os.path.abspath(__file__))
    stamps = []
    for name in _SOURCES:
        try:
            stamps.append(os.stat(os.path.join(here, name)).st_mtime_ns)
        except OSError:
            stamps.append(0)
    key = repr(
        (
            FORMAT,
            __version__,
            sys.version_info[:2],
            stamps,
            policy.root_packages,
            policy.sanctioned,
            policy.dispatch_modules,
            policy.protected,
            policy.forbidden_in_protected,
            policy.type_checking,
            policy.allow,
            policy.indirect,
            str(policy.project_root),
        )
    )
    return blake2b(key.encode(), digest_size=12).hexdigest()


def _path(root: str, key: str) -> str:
    return os.path.join(root, CACHE_DIR, f"check-{key}.bin")


class Entries:
    """The cached records, laid out for a fast load: parallel arrays, records shared.

    ``rels[i]`` was ``stats[2i]`` (mtime_ns) and ``stats[2i+1]`` (size) bytes when its record
    ``records[slots[i]]`` was made. Building one tuple per file on load would cost more than
    the rest of a cached run.
    """

    __slots__ = ("_index", "records", "rels", "slots", "stats")

    def __init__(
        self, rels: list[str], stats: array[int], slots: array[int], records: list[Any]
    ) -> None:
        self.rels = rels
        self.stats = stats
        self.slots = slots
        self.records = records
        self._index = dict(zip(rels, range(len(rels)), strict=True))

    @classmethod
    def empty(cls) -> Entries:
        return cls([], array("q"), array("l"), [])

    def __len__(self) -> int:
        return len(self.rels)

    def lookup(self, rel: str, mtime_ns: int, size: int) -> Any:
        """The record of ``rel`` if its (mtime, size) is unchanged, else None."""
        i = self._index.get(rel)
        if i is None or self.stats[2 * i] != mtime_ns or self.stats[2 * i + 1] != size:
            return None
        return self.records[self.slots[i]]

    def as_dict(self) -> dict[str, tuple[int, int, Any]]:
        stats, slots, records = self.stats, self.slots, self.records
        return {
            rel: (stats[2 * i], stats[2 * i + 1], records[slots[i]])
            for i, rel in enumerate(self.rels)
        }

    @classmethod
    def from_dict(cls, entries: dict[str, tuple[int, int, Any]]) -> Entries:
        rels = list(entries)
        stats = array("q")
        slots = array("l")
        records: list[Any] = []
        shared: dict[Any, int] = {}
        for mtime_ns, size, record in entries.values():
            stats.append(mtime_ns)
            stats.append(size)
            # Most records are the same "nothing here" tuple: store each distinct one once.
            slot = shared.get(record)
            if slot is None:
                slot = shared[record] = len(records)
                records.append(record)
            slots.append(slot)
        return cls(rels, stats, slots, records)


def load(root: str, key: str) -> Entries:
    """The cached entries for ``key``; empty when there are none or they are unusable."""
    try:
        with open(_path(root, key), "rb") as fh:
            data = marshal.load(fh)
        fmt, stored_key, rels, raw_stats, raw_slots, records = data
        if fmt != FORMAT or stored_key != key:
            return Entries.empty()
        stats = array("q")
        stats.frombytes(raw_stats)
        slots = array("l")
        slots.frombytes(raw_slots)
        if len(stats) != 2 * len(rels) or len(slots) != len(rels):
            return Entries.empty()
        return Entries(rels, stats, slots, records)
    except (OSError, EOFError, ValueError, TypeError):
        return Entries.empty()


def save(root: str, key: str, entries: Entries) -> None:
    """Replace the cache for ``key`` atomically; a cache that cannot be written is skipped."""
    directory = os.path.join(root, CACHE_DIR)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, ".gitignore"), "w", encoding="utf-8") as fh:
                fh.write("# Created by taskguard check.\n*\n")
            with open(os.path.join(directory, "CACHEDIR.TAG"), "w", encoding="utf-8") as fh:
                fh.write("Signature: 8a477f597d28d172789f06886806bc55\n")
                fh.write("# This directory is a cache tag created by taskguard check.\n")
        target = _path(root, key)
        temporary = f"{target}.{os.getpid()}.tmp"
        payload = (
            FORMAT,
            key,
            entries.rels,
            entries.stats.tobytes(),
            entries.slots.tobytes(),
            entries.records,
        )
        with open(temporary, "wb") as fh:
            marshal.dump(payload, fh)
        os.replace(temporary, target)
        _prune(directory)
    except OSError:
        return


def _prune(directory: str) -> None:
    files = []
    for entry in os.scandir(directory):
        if entry.name.startswith("check-") and entry.name.endswith(".bin"):
            files.append((entry.stat().st_mtime_ns, entry.path))
    for _mtime, path in sorted(files, reverse=True)[KEEP:]:
        with contextlib.suppress(OSError):
            os.unlink(path)
