"""The caches of ``taskguard check`` under ``.taskguard_cache/``.

``check-<fingerprint>.bin``: the per-file records. One file per policy fingerprint, laid out
per directory, so that a cached run compares a whole directory's listing with one
comparison of bytes: ``dirs[rel_dir] = (names, stats, common, others)``, where ``stats``
packs ``(mtime_ns, ctime_ns, size)`` of each name as signed 64-bit integers, ``common`` is the
record of most names in the directory and ``others`` maps a name's index to its record when
that differs. A record is reused only while its file's three stamps are unchanged: the
change time catches an edit that keeps the size and puts the modification time back
(``touch -r``, ``rsync -t``, extracting an archive), and a file modified within the last
``RACY_NS`` is never stored (it could change again within the file system's timestamp
granularity). The fingerprint covers the policy, taskguard's version and its checker
sources, and the Python minor version (the grammar differs), so any of those changing starts
a fresh file.

``syntax-<python>.bin``: whether a file's bytes compile, keyed on a digest of the bytes and
nothing else. Most files of a project only need that answer, and it survives a policy
change or an upgrade of taskguard, which start a fresh ``check-`` file.

``policy.bin``: the ``[tool.taskguard]`` table of the project's TOML file, keyed on the
file's path and stamps, so a cached run needs no TOML parser.

``marshal`` is used because it is the fastest way to load plain tuples and dicts; the caches
are local build output, never shared, and a file that fails to load is simply ignored.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

from taskguard._version import __version__

# Not ``from typing import ...``: the verdict memo (``taskguard._memo``) imports this module
# on the start-up path of every ``taskguard check``, where typing alone costs milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from array import array
    from typing import Any

    from taskguard._policy import Policy


class DirEntry(tuple):  # type: ignore[type-arg]
    """One directory of ``check-*.bin``: ``(names, stats, common, others)``, a plain tuple in
    the file, read by name here. (A ``typing.NamedTuple`` would import typing.)"""

    __slots__ = ()

    def __new__(
        cls, names: list[str], stats: bytes, common: Any, others: dict[int, Any]
    ) -> DirEntry:
        return tuple.__new__(cls, (names, stats, common, others))

    @property
    def names(self) -> list[str]:
        return self[0]  # type: ignore[no-any-return]

    @property
    def stats(self) -> bytes:
        """STAMPS signed 64-bit integers per name."""
        return self[1]  # type: ignore[no-any-return]

    @property
    def common(self) -> Any:
        """The record of most names, as a plain tuple."""
        return self[2]

    @property
    def others(self) -> dict[int, Any]:
        """Index in ``names`` -> record, where it is not ``common``."""
        return self[3]  # type: ignore[no-any-return]


CACHE_DIR = ".taskguard_cache"
FORMAT = 4
RACY_NS = 2_000_000_000
# The stamps kept per file, in this order.
STAMPS = 3
# Fingerprints of other policies (indirect on/off, another config) kept side by side.
KEEP = 4
# The checker's sources: a change to any of them (an edit in a checkout) starts a fresh cache.
_SOURCES = ("_policy.py", "_rules.py", "_cache.py")
_CHECKER_PACKAGE = "_static"
# A digest of the bytes -> None (they compile) or (line, column, message, error type).
SYNTAX_FORMAT = 1
# Distinct file contents remembered; the oldest half is dropped beyond this.
SYNTAX_LIMIT = 200_000


# The directory of the taskguard package.
PACKAGE = os.path.dirname(os.path.abspath(__file__))


def source_stamps(
    directory: str, only: tuple[str, ...] | None = None, suffix: str = ".py"
) -> list[object]:
    """``(name, mtime_ns, ctime_ns, size)`` of the ``.py`` (``suffix``) files in ``directory``
    (of ``only`` these names), sorted: what says that taskguard's own code is the code that
    wrote a cache.

    A file that cannot be stat'ed counts as a stamp of its own: it changes the answer.
    """
    stamps: list[object] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.endswith(suffix) and (only is None or name in only):
                    try:
                        st = entry.stat()
                    except OSError:
                        stamps.append((name, -1, -1, -1))
                    else:
                        stamps.append((name, st.st_mtime_ns, st.st_ctime_ns, st.st_size))
    except OSError:
        stamps.append(("", -1, -1, -1))
    stamps.sort()
    return stamps


def fingerprint(policy: Policy) -> str:
    stamps = source_stamps(PACKAGE, _SOURCES) + source_stamps(
        os.path.join(PACKAGE, _CHECKER_PACKAGE)
    )
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
    return digest(key.encode(), 12).hex()


def digest(data: bytes, size: int = 16) -> bytes:
    """A blake2b digest of ``data``."""
    try:
        # The builtin module behind hashlib.blake2b: importing hashlib loads OpenSSL, which
        # costs more than a cached check of a small project.
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - CPython built without it
        from hashlib import blake2b
    return blake2b(data, digest_size=size).digest()


def _path(root: str, name: str) -> str:
    return os.path.join(root, CACHE_DIR, name)


class Entries:
    """The cached records of one fingerprint, per directory (see the module docstring)."""

    __slots__ = ("dirs",)

    def __init__(self, dirs: dict[str, DirEntry]) -> None:
        self.dirs = dirs

    @classmethod
    def empty(cls) -> Entries:
        return cls({})

    def __len__(self) -> int:
        return sum(len(entry[0]) for entry in self.dirs.values())


def pack(names: list[str], stats: array[int], records: list[Any]) -> DirEntry:
    """One directory's entry: ``records[i]`` belongs to ``names[i]``, stamped ``stats``."""
    counts: dict[Any, int] = {}
    for record in records:
        counts[record] = counts.get(record, 0) + 1
    common = max(counts, key=counts.__getitem__)
    others = {i: record for i, record in enumerate(records) if record != common}
    return DirEntry(names, stats.tobytes(), common, others)


def load(root: str, key: str) -> Entries:
    """The cached entries for ``key``; empty when there are none or they are unusable."""
    data = _load(_path(root, f"check-{key}.bin"))
    try:
        fmt, stored_key, dirs = data
        if fmt != FORMAT or stored_key != key or type(dirs) is not dict:
            return Entries.empty()
        size = 8 * STAMPS
        entries: dict[str, DirEntry] = {}
        for rel_dir, raw in dirs.items():
            # The shape the checker relies on (a few hundred directories: cheap).
            entry = DirEntry(*raw)
            if (
                type(entry.names) is not list
                or type(entry.stats) is not bytes
                or type(entry.others) is not dict
                or len(entry.stats) != size * len(entry.names)
            ):
                return Entries.empty()
            entries[rel_dir] = entry
        return Entries(entries)
    except (ValueError, TypeError):
        return Entries.empty()


def _load(path: str) -> Any:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        # marshal.load() on a file reads it in many small pieces: several times slower.
        return marshal.loads(data)
    except (OSError, EOFError, ValueError, TypeError):
        return None


def _ensure_directory(root: str) -> str:
    directory = os.path.join(root, CACHE_DIR)
    if not os.path.isdir(directory):
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, ".gitignore"), "w", encoding="utf-8") as fh:
            fh.write("# Created by taskguard check.\n*\n")
        with open(os.path.join(directory, "CACHEDIR.TAG"), "w", encoding="utf-8") as fh:
            fh.write("Signature: 8a477f597d28d172789f06886806bc55\n")
            fh.write("# This directory is a cache tag created by taskguard check.\n")
    return directory


def write(root: str, name: str, payload: Any) -> bool:
    """Replace ``CACHE_DIR/name`` atomically; False when it cannot be written."""
    try:
        _ensure_directory(root)
        target = _path(root, name)
        temporary = f"{target}.{os.getpid()}.tmp"
        try:
            with open(temporary, "wb") as fh:
                marshal.dump(payload, fh)
        except ValueError:  # a value marshal cannot store: keep no cache
            os.unlink(temporary)
            return False
        os.replace(temporary, target)
    except OSError:
        return False
    return True


def save(root: str, key: str, entries: Entries) -> None:
    """Replace the cache for ``key``; a cache that cannot be written is skipped."""
    # Records equal in value become one object, which marshal then writes once and loads
    # once (most files of a project share the "nothing here" record).
    shared: dict[Any, Any] = {}
    dirs = {
        # Plain tuples: marshal stores builtins only.
        rel_dir: (
            names,
            stats,
            shared.setdefault(common, common),
            {i: shared.setdefault(r, r) for i, r in others.items()},
        )
        for rel_dir, (names, stats, common, others) in entries.dirs.items()
    }
    if write(root, f"check-{key}.bin", (FORMAT, key, dirs)):
        prune(os.path.join(root, CACHE_DIR), "check-", KEEP)


def prune(directory: str, prefix: str, keep: int) -> None:
    """Remove all but the ``keep`` newest ``<prefix>*.bin`` files of ``directory``."""
    files = []
    try:
        for entry in os.scandir(directory):
            if entry.name.startswith(prefix) and entry.name.endswith(".bin"):
                files.append((entry.stat().st_mtime_ns, entry.path))
    except OSError:
        return
    for _mtime, path in sorted(files, reverse=True)[keep:]:
        try:  # noqa: SIM105 - contextlib is not imported on the cached path
            os.unlink(path)
        except OSError:
            pass


# --------------------------------------------------------------------------- syntax results


def _syntax_name() -> str:
    return f"syntax-{sys.implementation.cache_tag}.bin"


def load_syntax(root: str) -> dict[bytes, Any]:
    """Digest of a file's bytes -> None (it compiles) or why it does not."""
    data = _load(_path(root, _syntax_name()))
    try:
        fmt, version, results = data
        if fmt == SYNTAX_FORMAT and version == sys.version and type(results) is dict:
            return results
    except (ValueError, TypeError):
        pass
    return {}


def save_syntax(root: str, results: dict[bytes, Any]) -> None:
    if len(results) > SYNTAX_LIMIT:
        # Dicts keep insertion order: the entries added first (oldest) go.
        keep = list(results.items())[len(results) - SYNTAX_LIMIT // 2 :]
        results = dict(keep)
    write(root, _syntax_name(), (SYNTAX_FORMAT, sys.version, results))


# --------------------------------------------------------------------------- the policy table


def table_key(source: str) -> tuple[Any, ...] | None:
    """What the cached table of ``source`` is valid for; None: do not cache it now."""
    try:
        st = os.stat(source)
    except OSError:
        return None
    # The same rule as for the records: a file modified just now could change again
    # without any of its stamps changing.
    if st.st_mtime_ns >= time.time_ns() - RACY_NS:
        return None
    return (FORMAT, sys.version_info[:2], source, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def load_table(root: str, key: tuple[Any, ...]) -> tuple[bool, Any]:
    """(True, table) when the table stored for ``key`` is there, else (False, None)."""
    data = _load(_path(root, "policy.bin"))
    if type(data) is tuple and len(data) == 2 and data[0] == key:
        return True, data[1]
    return False, None


def save_table(root: str, key: tuple[Any, ...], table: Any) -> None:
    write(root, "policy.bin", (key, table))
