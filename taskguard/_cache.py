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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskguard._policy import Policy

CACHE_DIR = ".taskguard_cache"
FORMAT = 1
RACY_NS = 2_000_000_000
# Fingerprints of other policies (indirect on/off, another config) kept side by side.
KEEP = 4
_SOURCES = ("_static.py", "_policy.py", "_rules.py", "_cache.py")


def fingerprint(policy: Policy) -> str:
    import hashlib

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
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _path(root: str, key: str) -> str:
    return os.path.join(root, CACHE_DIR, f"check-{key}.bin")


def load(root: str, key: str) -> dict[str, Any]:
    """The cached entries for ``key``, or an empty dict when there are none or they are bad."""
    try:
        with open(_path(root, key), "rb") as fh:
            data = marshal.load(fh)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if (
        not isinstance(data, tuple)
        or len(data) != 3
        or data[0] != FORMAT
        or data[1] != key
        or not isinstance(data[2], dict)
    ):
        return {}
    return data[2]


def save(root: str, key: str, entries: dict[str, Any]) -> None:
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
        with open(temporary, "wb") as fh:
            marshal.dump((FORMAT, key, entries), fh)
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
