"""Discovery: the first-party files under the given paths, listed per directory with the
stamps the cache compares, and the paths reports show.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from taskguard._cache import STAMPS
from taskguard._listing import list_directory
from taskguard._policy import SKIP_DIRS, Policy, exclude_matcher

if TYPE_CHECKING:
    from taskguard._memo import Trail


class SourceFile:
    """One first-party file that needs analysing or reporting."""

    __slots__ = ("mtime_ns", "package", "path", "rel", "size", "stem")

    def __init__(  # noqa: PLR0917 - built in one hot loop, positionally for speed
        self, path: str, rel: str, package: str, stem: str, mtime_ns: int, size: int
    ) -> None:
        self.path = path  # absolute
        self.rel = rel  # relative to the project root, '/'-separated: the cache key
        self.package = package  # the dotted package the file lives in ("" at the top)
        self.stem = stem  # the file name without ".py"
        self.mtime_ns = mtime_ns
        self.size = size

    @property
    def is_package(self) -> bool:
        return self.stem == "__init__"

    @property
    def module(self) -> str:
        if self.stem == "__init__":
            return self.package
        return f"{self.package}.{self.stem}" if self.package else self.stem

    def __repr__(self) -> str:
        return f"SourceFile({self.rel!r}, module={self.module!r})"


def module_name(rel: str, policy: Policy) -> tuple[str, bool] | None:
    """The dotted module name of a project-relative ``.py`` path, and whether it is a package.

    Names are taken relative to the project root, or to ``src/`` for a src layout.
    """
    parts = rel[:-3].split("/")
    if parts[0] == "src" and len(parts) > 1 and not policy.is_first_party("src"):
        parts = parts[1:]
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    if not parts or not all(parts):
        return None
    return ".".join(parts), is_package


def _top_level_names(policy: Policy) -> frozenset[str] | None:
    """First segments a root package can start with, or None when a pattern starts with *."""
    firsts = {p.split(".", 1)[0] for p in policy.root_packages}
    if any(f in ("*", "**") for f in firsts):
        return None
    return frozenset(firsts)


class Listing(NamedTuple):
    """The judged files of one directory."""

    directory: str  # absolute
    package: str  # the dotted package of the directory ("" at the top)
    names: list[str]  # the ``.py`` file names
    # STAMPS integers per name: mtime_ns, ctime_ns and size (size -1: the file could not be
    # stat'ed; reading it then reports TG900).
    stats: list[int]
    complete: bool  # every judged file of the directory is listed (False: a file given alone)


def walk(
    targets: Sequence[str],
    policy: Policy,
    root: str,
    trail: Trail | None = None,
    unlisted: dict[str, str] | None = None,
) -> Iterator[tuple[str, Listing]]:
    """``(rel_dir, listing)`` for each directory holding first-party files under ``targets``.

    A directory the walk enters (one that could hold first-party modules) but cannot list
    goes into ``unlisted`` (rel_dir -> the error): what it holds was not checked, and the
    run reports it (TG900) rather than pass over it.

    ``rel_dir`` is relative to ``root``, '/'-separated. A directory reachable from two targets
    is yielded twice (see :func:`collect`). Skips SKIP_DIRS, hidden directories and
    ``exclude`` globs (a target inside an excluded directory included); follows symlinked
    directories, after every real one. A directory reached under a second package name
    through a link is walked again under that name (Python imports its files under both, and
    the second may be protected), but never under a name it was already walked under, nor
    into one of its own ancestors (so a link loop ends).
    """
    firsts = _top_level_names(policy)
    excluded = exclude_matcher(policy.exclude)
    # A file matching "<glob>/**" lies in a directory matching it, which is never entered:
    # only the other globs need testing per file.
    file_globs = tuple(g for g in policy.exclude if not g.endswith("/**"))
    excluded_file = exclude_matcher(file_globs) if file_globs else None
    src_layout = not policy.is_first_party("src")
    # (directory identity, package): the same directory under the same name is walked once.
    seen_dirs: set[tuple[tuple[int, int], str]] = set()

    def relpath(path: str) -> str | None:
        rel = os.path.relpath(path, root)
        if rel == os.curdir:
            return ""
        if rel.startswith(os.pardir + os.sep) or rel == os.pardir or os.path.isabs(rel):
            return None
        return rel.replace(os.sep, "/")

    def package_of(rel_dir: str) -> str:
        parts = rel_dir.split("/") if rel_dir else []
        if parts[:1] == ["src"] and src_layout:
            parts = parts[1:]
        return ".".join(parts)

    def inside_excluded(rel: str) -> bool:
        parts = rel.split("/") if rel else []
        return any(excluded("/".join(parts[: i + 1]), True) for i in range(len(parts)))

    for target in targets:
        rel_target = relpath(target)
        if rel_target is None or inside_excluded(rel_target):
            continue
        # Not only a regular file: a FIFO named on the command line is read, and is TG900.
        if os.path.exists(target) and not os.path.isdir(target):
            if not target.endswith(".py") or excluded(rel_target, False):
                continue
            named = module_name(rel_target, policy)
            if named is not None and policy.is_first_party(named[0]):
                st = os.stat(target)
                module, is_package = named
                package = module if is_package else module.rpartition(".")[0]
                rel_dir, _, name = rel_target.rpartition("/")
                stats = [st.st_mtime_ns, st.st_ctime_ns, st.st_size]
                yield rel_dir, Listing(os.path.dirname(target), package, [name], stats, False)
            continue
        # Each entry carries the identities of the directories above it in this walk.
        pending: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
            (target, rel_target, frozenset())
        ]
        linked: list[tuple[str, str, frozenset[tuple[int, int]]]] = []
        while pending or linked:
            directory, rel_dir, above = pending.pop() if pending else linked.pop(0)
            try:
                found_dirs, names, stats, stamp = list_directory(directory)
            except OSError as exc:
                if trail is not None:
                    trail.unsure = True
                if unlisted is not None:
                    unlisted[rel_dir] = exc.strerror or type(exc).__name__
                continue
            if trail is not None:
                trail.listed.append((directory, stamp, found_dirs, names, stats))
            key = stamp[:2]
            package = package_of(rel_dir)
            if key in above or (key, package) in seen_dirs:
                continue
            seen_dirs.add((key, package))
            below = above | {key}
            package_first_party = bool(package) and policy.is_first_party(package)
            # Below the project root (or src/), only directories a root package can live in.
            allowed_top = firsts if firsts is not None and not package else None
            prefix = f"{rel_dir}/" if rel_dir else ""
            subdirs: list[tuple[str, str, frozenset[tuple[int, int]]]] = []
            for name, is_link in found_dirs:
                rel = prefix + name
                if (
                    name in SKIP_DIRS
                    or name.startswith(".")
                    or (
                        allowed_top is not None
                        and name not in allowed_top
                        and not (name == "src" and not rel_dir)
                    )
                    or excluded(rel, True)
                ):
                    continue
                (linked if is_link else subdirs).append((f"{directory}{os.sep}{name}", rel, below))
            pending.extend(reversed(subdirs))
            if names and (not package_first_party or excluded_file is not None):
                kept: list[str] = []
                kept_stats: list[int] = []
                for i, name in enumerate(names):
                    stem = name[:-3]
                    if stem == "__init__":
                        if not package_first_party:
                            continue
                    elif not package_first_party and not policy.is_first_party(
                        f"{package}.{stem}" if package else stem
                    ):
                        continue
                    if excluded_file is not None and excluded_file(prefix + name, False):
                        continue
                    kept.append(name)
                    kept_stats += stats[STAMPS * i : STAMPS * i + STAMPS]
                names, stats = kept, kept_stats
            if names:
                yield rel_dir, Listing(directory, package, names, stats, True)


def collect(walk: Iterable[tuple[str, Listing]], into: dict[str, Listing]) -> dict[str, Listing]:
    """Listings by directory; one reached twice (overlapping targets) lists every file once."""
    for rel_dir, listing in walk:
        previous = into.get(rel_dir)
        if previous is None:
            into[rel_dir] = listing
            continue
        names, stats = list(previous.names), list(previous.stats)
        known = set(names)
        for i, name in enumerate(listing.names):
            if name not in known:
                names.append(name)
                stats += listing.stats[STAMPS * i : STAMPS * i + STAMPS]
        into[rel_dir] = previous._replace(
            names=names, stats=stats, complete=previous.complete or listing.complete
        )
    return into


def display_path(path: str, cwd: str) -> str:
    """``path`` relative to the working directory, '/'-separated (absolute on another drive)."""
    try:
        rel = os.path.relpath(path, cwd)
    except ValueError:  # pragma: no cover - Windows, another drive
        rel = path
    return rel.replace(os.sep, "/")


def displayer(root: str, cwd: str) -> Callable[[str], str]:
    """Project-relative path -> path relative to the working directory."""
    base = display_path(root, cwd)
    if base == os.curdir:
        return lambda rel: rel
    if not base.startswith(os.pardir):
        return lambda rel: f"{base}/{rel}"
    # The working directory is inside the project or beside it: let relpath walk it.
    return lambda rel: display_path(os.path.join(root, rel), cwd)
