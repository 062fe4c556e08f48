"""The verdict memo: a whole ``taskguard check`` run, replayed while nothing it read changed.

A cached run on a large project is mostly fixed cost that a compiled tool does not pay:
the interpreter's start, the checker's imports, listing every directory. So after a run whose
every input was stable, ``.taskguard_cache/run-<name>.bin`` keeps the run's report and exit
code together with everything they depend on, and the ``taskguard`` console script
(``taskguard.__main__``) reads it before importing anything else of taskguard (``os``,
``sys`` and ``marshal`` only): when every part still matches it writes the stored report and
exits with the stored code; on any mismatch, or any doubt, the full run decides and stores
a new memo.

The key, compared as one value: the exact arguments, the working directory, the interpreter
(its path, version and ``-W`` options), where taskguard is and the stamps of its sources, and
the environment the report reads (``NO_COLOR``; whether standard output is a terminal).

The inputs, each stamp compared with the file system again:

* every directory the walk listed, ``(device, inode, mtime_ns, ctime_ns)`` taken before the
  listing: a file added, removed or renamed there, or a new subdirectory, changes it;
* every file judged, ``(mtime_ns, ctime_ns, size)`` as the record cache compares them: the
  change time catches an edit that keeps the size and puts the modification time back;
* every other path the run consulted (the ``pyproject.toml`` candidates up to the policy
  file, ``--config``, the baseline file, the paths given, what discovering the root
  packages looked at), with its type, device, inode, times and size, or as missing together
  with its directory's stamp, so that a file appearing there is seen;
* the resolved form of the paths whose symlinks choose the policy (the first path given,
  ``--config``).

Sound by the record cache's rule (``taskguard._cache.RACY_NS``): a run is memoised only when
every stamp it stores is older than the racy window before the run started, so nothing it read
changed during the run, and any later change, even within the file system's timestamp
granularity, gives another stamp. Only pure read-only runs are memoised: never one with
``--no-cache`` or ``--write-baseline``, one that failed (exit 2), reported a file it could not
read (TG900), wrote anything to standard error, or has ``dispatch-distributions`` (resolved
from the installed packages, which have no stamp here).

The file is ``marshal``ed builtins, local build output like the rest of the cache.
"""

from __future__ import annotations

import marshal
import os
import sys

from taskguard import _cache
from taskguard._cache import CACHE_DIR, PACKAGE, RACY_NS, source_stamps

# Not ``from typing import ...``: this module is on the start-up path of every check.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from taskguard._static.discover import Trail

FORMAT = 1
# Memos of other commands (arguments, working directories, interpreters) kept side by side.
KEEP = 8
PREFIX = "run-"

# One file's stamp in a directory's list: mtime_ns, ctime_ns, size.
_FILE_STAMPS = 3
_DIR_FD = os.stat in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")


def key(argv: Sequence[str]) -> tuple[object, ...]:
    """Everything besides the file system that the output of ``taskguard argv`` depends on."""
    isatty = getattr(sys.stdout, "isatty", None)
    return (
        FORMAT,
        tuple(argv),
        os.getcwd(),
        sys.executable,
        sys.version,
        tuple(sys.warnoptions),
        PACKAGE,
        source_stamps(PACKAGE),
        source_stamps(os.path.join(PACKAGE, "_static")),
        # https://no-color.org: the text report's colours.
        bool(os.environ.get("NO_COLOR")),
        bool(isatty and isatty()),
    )


def file_name(memo_key: tuple[object, ...]) -> str:
    """The memo's file name: a 64-bit FNV-1a of the command, where and how it ran.

    Only a name: the whole key is stored in the file and compared, so two commands sharing a
    name only replace each other's memo. (No hashlib: it loads OpenSSL.)
    """
    h = 0xCBF29CE484222325
    for byte in repr(memo_key[1:5]).encode("utf-8", "surrogatepass"):
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{PREFIX}{h:016x}.bin"


def _places(name: str) -> Iterator[str]:
    """Where the memo called ``name`` may be: the cache directories at and above the working
    directory, nearest first (a run writes it under its project root)."""
    directory = os.getcwd()
    while True:
        yield os.path.join(directory, CACHE_DIR, name)
        parent = os.path.dirname(directory)
        if parent == directory:
            return
        directory = parent


def replay(argv: Sequence[str]) -> int | None:
    """Write the stored report of ``taskguard argv`` and return its exit code, when a memo
    of it is current; None otherwise (run it)."""
    try:
        memo_key = key(argv)
        data = None
        for path in _places(file_name(memo_key)):
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            break
        if data is None:
            return None
        fmt, stored_key, code, output, resolved, paths, dirs = marshal.loads(data)
        if (
            fmt != FORMAT
            or stored_key != memo_key
            or type(code) is not int
            or type(output) is not str
            or not _current(resolved, paths, dirs)
        ):
            return None
    except Exception:  # noqa: BLE001 - any doubt (a damaged memo, a vanished file): run it
        return None
    sys.stdout.write(output)
    return code


def _current(
    resolved: list[tuple[str, str]],
    paths: list[tuple[str, tuple[int, ...] | None]],
    dirs: list[tuple[str, tuple[int, ...] | None, list[str], list[int]]],
) -> bool:
    """Whether every stamp the memo holds is the file system's now."""
    for given, real in resolved:
        if os.path.realpath(given) != real:
            return False
    for path, stamp in paths:
        if _stamp(path) != stamp:
            return False
    stat = os.stat
    for directory, dir_stamp, names, stamps in dirs:
        now: list[int] = []
        if _DIR_FD:
            # Each file's stat relative to the directory: no walk down the whole path again.
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if dir_stamp is not None:
                    st = os.fstat(fd)
                    if (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns) != dir_stamp:
                        return False
                for name in names:
                    st = stat(name, dir_fd=fd)
                    now += (st.st_mtime_ns, st.st_ctime_ns, st.st_size)
            finally:
                os.close(fd)
        else:  # pragma: no cover - platforms without dir_fd (Windows)
            if dir_stamp is not None:
                st = stat(directory)
                if (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns) != dir_stamp:
                    return False
            for name in names:
                st = stat(os.path.join(directory, name))
                now += (st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        if now != stamps:
            return False
    return True


def _stamp(path: str) -> tuple[int, ...] | None:
    """A path's full stamp (following symlinks, as the run does), None when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mode, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


# --------------------------------------------------------------------------- storing


def store(  # noqa: PLR0913 - one call site, in the CLI
    argv: Sequence[str],
    trail: Trail,
    *,
    started_ns: int,
    output: str | None,
    code: int,
    paths: Sequence[str],
    config: str | None,
    baseline: bool,
) -> bool:
    """Memoise a finished run of ``taskguard argv`` (``paths`` and ``config`` as given) that
    began at ``started_ns``, printed ``output`` (None: an error, or something written to
    standard error) and exits with ``code``; returns whether it was stored.

    A run that cannot be memoised removes the memo of its command, so that the next run
    does not compare stamps that are known to be stale.
    """
    root = trail.root
    if not root:
        return False
    memo_key = key(argv)
    name = file_name(memo_key)
    cwd = os.getcwd()
    # The console script looks at and above the working directory only.
    findable = cwd == root or cwd.startswith(root.rstrip(os.sep) + os.sep)
    inputs = None
    if output is not None and code in (0, 1) and findable:
        inputs = _inputs(trail, started_ns, paths, config, baseline)
    if inputs is None:
        try:  # noqa: SIM105 - contextlib is not imported on this path
            os.unlink(os.path.join(root, CACHE_DIR, name))
        except OSError:
            pass
        return False
    resolved, stamped, dirs = inputs
    memo = (FORMAT, memo_key, code, output, resolved, stamped, dirs)
    if not _cache.write(root, name, memo):
        return False
    _cache.prune(os.path.join(root, CACHE_DIR), PREFIX, KEEP)
    return True


def _inputs(
    trail: Trail, started_ns: int, paths: Sequence[str], config: str | None, baseline: bool
) -> (
    tuple[
        list[tuple[str, str]],
        list[tuple[str, tuple[int, ...] | None]],
        list[tuple[str, tuple[int, ...] | None, list[str], list[int]]],
    ]
    | None
):
    """The memo's inputs (see the module docstring); None when the run cannot be memoised."""
    policy = trail.policy
    if policy is None or trail.failed or trail.unsure or policy.dispatch_distributions:
        return None
    from pathlib import Path

    from taskguard import _policy

    racy_after = started_ns - RACY_NS
    consulted: list[str] = [os.path.abspath(p) for p in paths]
    resolved = [(p, os.path.realpath(p)) for p in paths[:1]]
    if config is not None:
        consulted.append(os.path.abspath(config))
        resolved.append((config, os.path.realpath(config)))
    else:
        start = Path(paths[0]) if paths else Path.cwd()
        for candidate in _policy.pyproject_candidates(start):
            consulted.append(str(candidate))
            if policy.source is not None and candidate == policy.source:
                break
    if policy.source is not None:
        consulted.append(str(policy.source))
    if baseline:
        consulted.append(str(policy.baseline_path))
    if trail.discovered and policy.project_root is not None:
        found = _policy.discover_root_packages(policy.project_root, policy.exclude, consulted)
        if found != policy.root_packages:
            return None  # they changed during the run
    stamped: dict[str, tuple[int, ...] | None] = {}
    for path in consulted:
        if path in stamped:
            continue
        stamp = stamped[path] = _stamp(path)
        while stamp is None and path != os.path.dirname(path):
            # Missing: the stamp of the nearest directory above it that exists changes
            # when it appears.
            path = os.path.dirname(path)
            stamp = stamped.get(path) if path in stamped else _stamp(path)
            stamped[path] = stamp
        if stamp is not None and max(stamp[3], stamp[4]) >= racy_after:
            return None
    listed: dict[str, tuple[int, ...] | None] = {}
    for directory, dir_stamp in trail.listed:
        if max(dir_stamp[2], dir_stamp[3]) >= racy_after:
            return None
        listed[directory] = dir_stamp
    dirs: list[tuple[str, tuple[int, ...] | None, list[str], list[int]]] = []
    for listing in trail.listings:
        stats = listing.stats
        for i in range(0, len(stats), _FILE_STAMPS):
            if stats[i + 2] < 0 or max(stats[i], stats[i + 1]) >= racy_after:
                return None
        dirs.append((listing.directory, listed.pop(listing.directory, None), listing.names, stats))
    # Directories listed that hold no judged file: their stamps alone.
    dirs += [(directory, dir_stamp, [], []) for directory, dir_stamp in listed.items()]
    return resolved, list(stamped.items()), dirs
