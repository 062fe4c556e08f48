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

The inputs, each compared with the file system again:

* every directory the walk listed, by its stamp ``(device, inode, mtime_ns, ctime_ns)``
  taken before the listing: a file added, removed or renamed there, or a new subdirectory,
  changes it. A directory changed within the racy window (see below) has no stamp to trust:
  it is listed again (``taskguard._listing``, as the walk lists it) and compared by its
  subdirectories, ``.py`` names and their stamps, leaving out the cache directory itself;
* every file judged, by ``(mtime_ns, ctime_ns, size)`` as the record cache compares them:
  the change time catches an edit that keeps the size and puts the modification time back;
* every other path the run looked at, by what the run saw of it: the policy file (and
  ``--config``) and a baseline file that was read by their full stamp (type, device, inode,
  times, size); every ``pyproject.toml`` nearer than the policy's, and a baseline file that
  was not there, must still be no regular file; the paths given must still be what they
  were (a file, a directory); when the root packages are discovered, every path discovery
  looked at, by its full stamp or as missing;
* the resolved form of the paths whose symlinks choose the policy (the first path given,
  ``--config``).

Sound by the record cache's rule (``taskguard._cache.RACY_NS``): a stamp is trusted only
when it is older than the racy window before the run started, so nothing it describes
changed during the run, and any later change, even within the file system's timestamp
granularity, gives another stamp; a run that read a file changed within the window (or one
of the paths above) is not memoised. Only pure read-only runs are: never one with
``--no-cache`` or ``--write-baseline``, one that failed (exit 2), wrote anything to
standard error, reported a file it could not read or analyse (a TG900 that may not happen
again: an I/O error, a worker that died; a file that does not parse fails the same way until
its stamps change, as the record cache also assumes), or has ``dispatch-distributions``
(resolved from the installed packages, which have no stamp here).

The file is ``marshal``ed builtins, local build output like the rest of the cache.
"""

from __future__ import annotations

import marshal
import os
import sys

from taskguard import _cache
from taskguard._cache import CACHE_DIR, PACKAGE, RACY_NS, source_stamps
from taskguard._listing import list_directory

# Not ``from typing import ...``: this module is on the start-up path of every check.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from taskguard._policy import Policy

    Stamp = tuple[int, ...]
    Listed = tuple[list[tuple[str, bool]], list[str], list[int]]

FORMAT = 2
# Memos of other commands (arguments, working directories, interpreters) kept side by side.
KEEP = 8
PREFIX = "run-"

_DIR_FD = os.stat in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")
_UID = os.getuid() if hasattr(os, "getuid") else None
# The bits of ``st_mode`` that say what a path is (file, directory, ...).
_TYPE_BITS = 0o170000


class Trail:
    """What a run read, for the memo: the CLI hands one to ``run_check``, which fills it in."""

    __slots__ = (
        "baseline_read",
        "discovered",
        "failed",
        "listed",
        "listings",
        "policy",
        "root",
        "unsure",
    )

    def __init__(self) -> None:
        # Every directory the walk listed: its path, its stamp (device, inode, mtime_ns,
        # ctime_ns) taken before the listing, and the listing (taskguard._listing).
        self.listed: list[tuple[str, Stamp, list[tuple[str, bool]], list[str], list[int]]] = []
        # The judged files: (directory, names, three stamps per name).
        self.listings: list[tuple[str, list[str], list[int]]] = []
        self.policy: Policy | None = None
        self.root = ""  # the project root, where the cache is
        # The root packages were discovered (no ``root-packages`` key), not configured;
        # assumed until the policy loader says otherwise.
        self.discovered = True
        # The baseline file was there and read (None: the run was told to ignore it).
        self.baseline_read: bool | None = None
        # A file could not be read or analysed (a TG900 that may not happen next time).
        self.failed = False
        # Something the memo cannot stamp happened (a directory that could not be listed).
        self.unsure = False


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
                    # Only a memo this user wrote (a shared directory above the project, such
                    # as /tmp, could hold anyone's).
                    if _UID is not None and os.fstat(fh.fileno()).st_uid != _UID:
                        return None
                    data = fh.read()
            except OSError:
                continue
            break
        if data is None:
            return None
        fmt, stored_key, code, output, resolved, paths, listed, dirs, root = marshal.loads(data)
        if (
            fmt != FORMAT
            or stored_key != memo_key
            or type(code) is not int
            or type(output) is not str
            # Only where the run that wrote it keeps its cache: the project root it found.
            or os.path.dirname(path) != os.path.join(root, CACHE_DIR)
            or not _current(resolved, paths, listed, dirs)
        ):
            return None
    except Exception:  # any doubt (a damaged memo, a vanished file): run it
        return None
    sys.stdout.write(output)
    return code


def _current(
    resolved: list[tuple[str, str]],
    paths: list[tuple[str, Stamp | None]],
    listed: list[tuple[str, Stamp, Listed]],
    dirs: list[tuple[str, Stamp | None, list[str], list[int]]],
) -> bool:
    """Whether the file system still shows what the memoised run read."""
    for given, real in resolved:
        if os.path.realpath(given) != real:
            return False
    for path, stamp in paths:
        if _stamp(path, stamp is not None and len(stamp) == 1) != stamp:
            return False
    for directory, identity, listing in listed:
        # Changed within the racy window before the run: compared by listing it again.
        subdirs, names, stats, now = list_directory(directory)
        if now[:2] != identity or _without_cache(subdirs, names, stats) != listing:
            return False
    stat = os.stat
    for directory, dir_stamp, names, stamps in dirs:
        current: list[int] = []
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
                    current += (st.st_mtime_ns, st.st_ctime_ns, st.st_size)
            finally:
                os.close(fd)
        else:  # pragma: no cover - platforms without dir_fd (Windows)
            if dir_stamp is not None:
                st = stat(directory)
                if (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns) != dir_stamp:
                    return False
            for name in names:
                st = stat(os.path.join(directory, name))
                current += (st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        if current != stamps:
            return False
    return True


def _stamp(path: str, kind_only: bool = False) -> Stamp | None:
    """A path's stamp, following symlinks as the run does (None: it is missing): its type,
    device, inode, times and size, or (``kind_only``) only its type."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if kind_only:
        return (st.st_mode & _TYPE_BITS,)
    return (st.st_mode, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def _without_cache(subdirs: list[tuple[str, bool]], names: list[str], stats: list[int]) -> Listed:
    """A listing, leaving out taskguard's own cache directory (which the walk never enters,
    and which a run creates after listing the project root)."""
    return [entry for entry in subdirs if entry[0] != CACHE_DIR], names, stats


# --------------------------------------------------------------------------- storing


def store(
    argv: Sequence[str],
    trail: Trail,
    *,
    started_ns: int,
    output: str | None,
    code: int,
    paths: Sequence[str],
    config: str | None,
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
        inputs = _inputs(trail, started_ns - RACY_NS, paths, config)
    if inputs is None:
        try:  # noqa: SIM105 - contextlib is not imported on this path
            os.unlink(os.path.join(root, CACHE_DIR, name))
        except OSError:
            pass
        return False
    if not _cache.write(root, name, (FORMAT, memo_key, code, output, *inputs, root)):
        return False
    _cache.prune(os.path.join(root, CACHE_DIR), PREFIX, KEEP)
    return True


class _Unstable(Exception):
    """An input changed during the run, or too recently to be stamped: do not memoise."""


def _inputs(
    trail: Trail, racy_after: int, paths: Sequence[str], config: str | None
) -> tuple[object, ...] | None:
    """``(resolved, paths, listed, dirs)`` of the memo (see :func:`_current`), from what the
    run read; None when the run cannot be memoised."""
    policy = trail.policy
    if policy is None or trail.failed or trail.unsure or policy.dispatch_distributions:
        return None
    try:
        resolved, stamped = _consulted(trail, policy, racy_after, paths, config)
        listed, dirs = _directories(trail, racy_after)
    except _Unstable:
        return None
    return resolved, stamped, listed, dirs


def _consulted(
    trail: Trail, policy: Policy, racy_after: int, paths: Sequence[str], config: str | None
) -> tuple[list[tuple[str, str]], list[tuple[str, Stamp | None]]]:
    """The paths the run looked at besides the walk, each with what the run saw of it."""
    from pathlib import Path

    from taskguard import _policy

    stamped: dict[str, Stamp | None] = {}

    def present(path: str) -> None:
        # Read by the run: unchanged since before it started.
        stamp = _stamp(path)
        if stamp is None or max(stamp[3], stamp[4]) >= racy_after:
            raise _Unstable(path)
        stamped[path] = stamp

    def absent(path: str) -> None:
        # Seen missing, or not a file, by the run: it must stay so.
        stamp = _stamp(path, kind_only=True)
        if stamp is not None and stamp[0] == 0o100000:  # a regular file
            raise _Unstable(path)
        stamped.setdefault(path, stamp)

    # Only whether the paths given are there, and what they are: the walk stamps what is
    # under them.
    for path in paths:
        stamp = _stamp(path, kind_only=True)
        if stamp is None:
            raise _Unstable(path)
        stamped[os.path.abspath(path)] = stamp
    # The symlinks in these choose the policy file and the project root.
    resolved = [(p, os.path.realpath(p)) for p in [*paths[:1], *([config] if config else [])]]
    if policy.source is None:
        if config is not None:
            raise _Unstable(config)
        for candidate in _policy.pyproject_candidates(Path(paths[0]) if paths else Path.cwd()):
            absent(str(candidate))
    else:
        if config is None:
            # Every pyproject.toml nearer than the policy's was no file when the run looked.
            start = Path(paths[0]) if paths else Path.cwd()
            for candidate in _policy.pyproject_candidates(start):
                if candidate == policy.source:
                    break
                absent(str(candidate))
        present(str(policy.source))
    baseline = str(policy.baseline_path)
    if trail.baseline_read:
        present(baseline)
    elif trail.baseline_read is not None:
        absent(baseline)
        if stamped[baseline] is not None:  # a dangling symlink, a directory: not memoised
            raise _Unstable(baseline)
    if trail.discovered and policy.project_root is not None:
        consulted: list[str] = []
        found = _policy.discover_root_packages(policy.project_root, policy.exclude, consulted)
        if found != policy.root_packages:
            raise _Unstable("root packages")
        for path in consulted:
            if path not in stamped:
                stamp = stamped[path] = _stamp(path)
                if stamp is not None and max(stamp[3], stamp[4]) >= racy_after:
                    raise _Unstable(path)
    return resolved, list(stamped.items())


def _directories(
    trail: Trail, racy_after: int
) -> tuple[list[tuple[str, Stamp, Listed]], list[tuple[str, Stamp | None, list[str], list[int]]]]:
    """The directories the walk listed and the files it judged, as the memo compares them:
    a directory changed within the racy window by its listing, any other by its stamp."""
    listed: list[tuple[str, Stamp, Listed]] = []
    stable: dict[str, Stamp] = {}
    for directory, stamp, subdirs, names, stats in trail.listed:
        if max(stamp[2], stamp[3]) >= racy_after:
            listed.append((directory, stamp[:2], _without_cache(subdirs, names, stats)))
        else:
            stable[directory] = stamp
    racy = {directory for directory, _identity, _listing in listed}
    dirs: list[tuple[str, Stamp | None, list[str], list[int]]] = []
    for directory, names, stats in trail.listings:
        for i in range(0, len(stats), 3):
            if stats[i + 2] < 0 or max(stats[i], stats[i + 1]) >= racy_after:
                raise _Unstable(os.path.join(directory, names[i // 3]))
        if directory not in racy:  # a listing compares the stamps of its files already
            dirs.append((directory, stable.pop(directory, None), names, stats))
    # Directories listed that hold no judged file: their stamps alone.
    dirs += [(directory, stamp, [], []) for directory, stamp in stable.items()]
    return listed, dirs
