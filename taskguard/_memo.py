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
(its path, version and ``-W`` options), where taskguard is and the stamps of its sources (the
rule pages a SARIF report quotes included), and the environment the report reads
(``NO_COLOR``; whether standard output is a terminal). It is taken as the run starts
(``Trail``): the report comes from the code the run started with, and a run whose sources
changed within the racy window before it is not memoised.

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
  times, size), taken just before the run read them (a run after which the stamp differs,
  such as a symlink swapped in for an older file, is not memoised); every ``pyproject.toml``
  nearer than the policy's must still be no regular file, and a baseline file that was not
  there must still not be there, not even as a dangling symlink (which the run reads, and
  fails on); the paths given must still be what they were (a file, a directory); when the
  root packages are discovered, every path discovery looked at, by its full stamp or as
  missing;
* the resolved form of the paths whose symlinks choose the policy (the first path given,
  ``--config``); a run after which either resolves otherwise than when the run looked for
  the policy through it is not memoised.

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

The file is ``marshal``ed builtins, local build output like the rest of the cache. Only a
regular file that this user owns is read, opened without blocking and without following a
symlink (a FIFO planted in a shared directory above the project must not hang the run, nor a
symlink there make it read some large file of the user).
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

FORMAT = 3
# Memos of other commands (arguments, working directories, interpreters) kept side by side.
KEEP = 8
PREFIX = "run-"

_DIR_FD = os.stat in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")
_UID = os.getuid() if hasattr(os, "getuid") else None
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# The bits of ``st_mode`` that say what a path is (file, directory, ...), and a regular file.
_TYPE_BITS = 0o170000
_REGULAR = 0o100000


class Trail:
    """What a run read, for the memo: the CLI hands one to ``run_check``, which fills it in."""

    __slots__ = (
        "baseline_read",
        "discovered",
        "failed",
        "key",
        "listed",
        "listings",
        "policy",
        "resolved",
        "root",
        "seen",
        "unsure",
    )

    def __init__(self, argv: Sequence[str]) -> None:
        # The memo's key, taken as the run starts: the report comes from the code (and
        # environment) the run started with, whatever changes while it runs. None: no
        # working directory (removed), so nothing to memoise; the run says what is wrong.
        self.key: tuple[object, ...] | None
        try:
            self.key = key(argv)
        except OSError:
            self.key = None
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
        # The stamps of the files read besides the walk (the policy, the baseline), taken
        # before reading them (see :meth:`note`).
        self.seen: dict[str, Stamp | None] = {}
        # The first path given and --config, with their real paths when the run began to
        # look for the policy through them.
        self.resolved: list[tuple[str, str]] = []

    def note(self, path: str) -> None:
        """Stamp ``path`` before the run reads it: the memo stores a file's stamp only when
        it is the one the run read (not, say, a symlink swapped in for an older file since)."""
        self.seen[path] = _stamp(path)


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
        # The rule pages a SARIF report carries (``taskguard/rules/``).
        source_stamps(os.path.join(PACKAGE, "rules"), suffix=".md"),
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
                # Never blocking (a FIFO planted where a memo may be would hang the open), and
                # never through a symlink (a memo is written as a file; a symlink in a shared
                # directory could make this read any file of the user, of any size).
                fd = os.open(path, os.O_RDONLY | _NONBLOCK | _NOFOLLOW)
            except OSError:
                continue
            with open(fd, "rb") as fh:
                st = os.fstat(fd)
                # Only a regular file (not a FIFO, nor /dev/zero behind a symlink) this user
                # wrote (a shared directory above the project, such as /tmp, holds anyone's).
                if st.st_mode & _TYPE_BITS != _REGULAR or (_UID is not None and st.st_uid != _UID):
                    return None
                data = fh.read()
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
    write_report(output)
    return code


def write_report(text: str) -> None:
    """Write a report to standard output; a character its encoding cannot hold (a non-ASCII
    path on an ASCII terminal) is written as a backslash escape, as standard error does,
    rather than ending the run in a traceback. The memo's replay and the CLI both write so."""
    out = sys.stdout
    if out is None:
        # Standard output closed (``taskguard check >&-``): the exit code still gives the
        # verdict; say that the report went nowhere rather than fail in a traceback.
        if sys.stderr is not None:
            sys.stderr.write("taskguard: standard output is closed: the report was not written\n")
        return
    try:
        out.write(text)
    except UnicodeEncodeError:
        # Nothing was written: a text stream encodes the whole text before buffering it.
        reconfigure = getattr(out, "reconfigure", None)
        if reconfigure is None:
            raise
        reconfigure(errors="backslashreplace")
        out.write(text)


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
        if stamp == ():  # nothing there, not even a dangling symlink
            if os.path.lexists(path):
                return False
        elif _stamp(path, stamp is not None and len(stamp) == 1) != stamp:
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
    memo_key = trail.key
    if memo_key is None or memo_key[1] != tuple(argv):
        return False
    name = file_name(memo_key)
    cwd = os.getcwd()
    # The console script looks at and above the working directory only.
    findable = cwd == root or cwd.startswith(root.rstrip(os.sep) + os.sep)
    inputs = None
    racy_after = started_ns - RACY_NS
    if output is not None and code in (0, 1) and findable and _settled(memo_key, racy_after):
        inputs = _inputs(trail, racy_after, paths, config)
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


def _settled(memo_key: tuple[object, ...], racy_after: int) -> bool:
    """Whether taskguard's sources in the key were older than the racy window: one edited
    just before the key was taken may not be the code the run imported (``_cli`` is loaded
    before it), nor give another stamp when edited again."""
    for stamps in memo_key:
        if type(stamps) is list:
            for _name, mtime_ns, ctime_ns, _size in stamps:
                if max(mtime_ns, ctime_ns) >= racy_after:
                    return False
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
        # Read by the run (stamped just before): unchanged since before the run started.
        stamp = _stamp(path)
        if stamp is None or max(stamp[3], stamp[4]) >= racy_after or trail.seen.get(path) != stamp:
            raise _Unstable(path)
        stamped[path] = stamp

    def absent(path: str) -> None:
        # Seen missing, or not a file, by the run: it must stay so.
        stamp = _stamp(path, kind_only=True)
        if stamp is not None and stamp[0] == _REGULAR:
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
    if resolved != trail.resolved:
        # A symlink retargeted since the run followed it to find the policy: the memo would
        # pair that policy with the new target (and the walk may have gone through either).
        raise _Unstable("symlinks")
    if policy.source is None:
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
        # Seen missing by ``lexists``: a dangling symlink there is read (and fails) too.
        if os.path.lexists(baseline):
            raise _Unstable(baseline)
        stamped[baseline] = ()
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
