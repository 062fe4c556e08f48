"""Which import packages an installed distribution provides (``dispatch-distributions``).

Read from the distribution's installed files with ``importlib-metadata``; only a policy
that names a distribution needs it, so ``taskguard._policy`` imports this module then.
"""

from __future__ import annotations


def distribution_packages(distribution: str) -> tuple[str, ...]:
    """Every import package a distribution provides, from its installed files.

    Namespace parents are not claimed (``google-cloud-tasks`` provides ``google.cloud.tasks``
    and ``google.cloud.tasks_v2*``, never ``google`` or ``google.cloud``). Raises
    ``LookupError`` when the distribution is not installed.
    """
    import importlib_metadata

    try:
        dist = importlib_metadata.distribution(distribution)
    except importlib_metadata.PackageNotFoundError as exc:
        raise LookupError(f"distribution {distribution!r} is not installed") from exc
    # PackagePath is a PurePosixPath: str() is always '/'-separated.
    files = [str(f) for f in (dist.files or ())]
    legacy = {
        f for f in files if f.endswith("/__init__.py") and _is_legacy_namespace(dist.locate_file(f))
    }
    inits = {f[: -len("/__init__.py")] for f in files if f.endswith("/__init__.py")} - {
        f[: -len("/__init__.py")] for f in legacy
    }
    provided: set[str] = set()
    for path in files:
        if path in legacy:
            continue
        parts = path.split("/")
        if any(p in ("..", "__pycache__") or p.endswith((".dist-info", ".data")) for p in parts):
            continue
        leaf = parts[-1]
        if leaf.endswith(".py"):
            module = leaf[:-3]
        elif leaf.endswith((".so", ".pyd")):
            module = leaf.split(".", 1)[0]
        else:
            continue
        dirs = parts[:-1]
        if not all(p.isidentifier() for p in dirs) or not module.isidentifier():
            continue
        for i in range(1, len(dirs) + 1):
            if "/".join(dirs[:i]) in inits:
                provided.add(".".join(dirs[:i]))
                break
        else:
            provided.add(".".join([*dirs, module]) if module != "__init__" else ".".join(dirs))
    provided.discard("")
    return tuple(sorted(provided))


def _is_legacy_namespace(path: object) -> bool:
    # An old-style namespace package (pkg_resources / pkgutil) ships an ``__init__.py`` that
    # only extends ``__path__``: claiming it would make every sibling distribution's modules
    # (``google.protobuf``, ``google.auth``...) dispatch modules.
    try:
        with open(str(path), "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b"declare_namespace" in head or b"extend_path" in head
