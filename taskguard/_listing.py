"""Listing one directory the way the checker's walk sees it: its subdirectories, its
``.py`` files and their stamps, and the directory's own stamp.

In a module of its own, importing ``os`` only: the walk (``taskguard._static.discover``)
lists every directory with it, and the verdict memo (``taskguard._memo``) lists a recently
changed directory again with it on the start-up path, so both see a directory alike.
"""

from __future__ import annotations

import os

# Not ``from typing import ...``: the verdict memo imports this module on every check.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

_SCANDIR_FD = os.scandir in os.supports_fd and hasattr(os, "O_DIRECTORY")


def describe(
    entries: Iterable[os.DirEntry[Any]],
) -> tuple[list[tuple[str, bool]], list[str], list[int]]:
    """(subdirectories as (name, is_symlink), ``.py`` names, their stamps) of a listing.

    The stamps are three integers per name: mtime_ns, ctime_ns and size (size -1: the file
    could not be stat'ed; reading it then reports TG900). This loop runs once per file of
    the project on every full run, cached or not: it does no more than the stat it needs.
    """
    subdirs: list[tuple[str, bool]] = []
    names: list[str] = []
    stats: list[int] = []
    for entry in entries:
        name = entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:
            # A symlink loop (ELOOP): a ".py" one is read, and fails, as TG900 says, like a
            # dangling symlink; skipping it would be silent.
            is_dir = False
        if is_dir:
            subdirs.append((name, entry.is_symlink()))
            continue
        if name.endswith(".py"):
            names.append(name)
            try:
                st = entry.stat()
            except OSError:
                stats += (0, 0, -1)
            else:
                stats += (st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    return subdirs, names, stats


def list_directory(
    directory: str,
) -> tuple[list[tuple[str, bool]], list[str], list[int], tuple[int, int, int, int]]:
    """:func:`describe` of ``directory``, and the directory's stamp (device, inode,
    mtime_ns, ctime_ns), taken before it is listed.

    Listed through a descriptor where the platform allows it, so that each file's stat is an
    ``fstatat`` relative to the directory instead of a walk down the whole path again; every
    call that needs the descriptor happens before it is closed.
    """
    if not _SCANDIR_FD:
        st = os.stat(directory)
        with os.scandir(directory) as it:
            return (*describe(it), (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns))
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        st = os.fstat(fd)
        with os.scandir(fd) as it:
            return (*describe(it), (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns))
    finally:
        os.close(fd)
