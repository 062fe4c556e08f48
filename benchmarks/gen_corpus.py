#!/usr/bin/env python3
"""Generate a deterministic first-party source tree for benchmarking ``taskguard check``.

    python benchmarks/gen_corpus.py OUT --modules 10000 [--seed N] [--force] [--verify]

The tree looks like a real service: several root packages, each with ``api/routers``,
``api/services/episodes`` and ``worker/tasks`` (protected), an
``infrastructure/tasks_client`` (sanctioned), domain, models, clients and adapters around
them, ~175 lines per module. Into it go planted violations of every import form the checker
must catch, and negative controls that look like violations but are not. ``OUT/manifest.json``
lists each one (path, line, code, imported, form), so a run can be scored exactly.

Besides the code, OUT holds the configuration of every tool the benchmark compares:
``pyproject.toml`` (``[tool.taskguard]``), ``taskguard-indirect.toml`` (the same policy with
``indirect = true``), ``ruff.toml`` plus one nested ``ruff.toml`` per protected package (TID251
banned-api), and ``importlinter-direct.ini`` / ``importlinter-indirect.ini`` (forbidden
contracts).

The same ``--modules`` and ``--seed`` always give byte-identical output.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import random
import shutil
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"
MIN_MODULES = 120
ROOT_NAMES = (
    "podcasts",
    "billing",
    "catalog",
    "identity",
    "notifications",
    "media",
    "analytics",
    "partners",
)
DISPATCH_MODULES = (
    "google.cloud.tasks",
    "google.cloud.tasks_v2",
    "google.cloud.tasks_v2beta2",
    "google.cloud.tasks_v2beta3",
)
FORBIDDEN_LIBRARIES = (
    "httpx",
    "requests",
    "multiprocessing",
    "aiohttp",
    "urllib3",
    "urllib.request",
    "http.client",
    "concurrent.futures.ProcessPoolExecutor",
)
# A first-party module the policy also forbids in protected code: the only way a relative
# import (which always resolves inside the project) can be a violation.
FIRST_PARTY_FORBIDDEN = "*.integrations.http_fanout"
PROTECTED = ("**.api.services.episodes", "**.api.routers", "**.worker.tasks")
PROTECTED_DIRS = ("api/services/episodes", "api/routers", "worker/tasks")
SANCTIONED = ("**.infrastructure.tasks_client",)
EXCLUDED_DIR = "legacy_vendor"


def generator_digest() -> str:
    """A digest of this file: a corpus made by another version of it is regenerated."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Mark:
    """One planted violation or negative control.

    ``line``..``end_line`` is the statement (the checker reports ``line``, its first line;
    other tools may point at a later line of a parenthesised import). For a control,
    ``code`` is ``None``: nothing at all may be reported on those lines.
    """

    kind: str  # "plant", "control", "indirect_plant", "indirect_control"
    path: str
    line: int
    end_line: int
    code: str | None
    imported: str | None
    form: str
    note: str = ""


@dataclass
class Source:
    """One file being written: its lines and the marks recorded as they are written."""

    path: str
    lines: list[str] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    encoding: str = "utf-8"
    bom: bool = False
    newline: str = "\n"
    raw: bytes | None = None  # set for files whose bytes are crafted by hand

    @property
    def next_line(self) -> int:
        return len(self.lines) + 1

    def add(self, *chunks: str) -> None:
        for chunk in chunks:
            self.lines.extend(chunk.split("\n"))

    def _mark(
        self,
        kind: str,
        code: str | None,
        imported: str | None,
        form: str,
        text: str,
        note: str,
    ) -> int:
        start = self.next_line
        self.add(text)
        self.marks.append(
            Mark(kind, self.path, start, self.next_line - 1, code, imported, form, note)
        )
        return start

    def plant(self, code: str, imported: str | None, form: str, text: str, note: str = "") -> int:
        return self._mark("plant", code, imported, form, text, note)

    def control(self, form: str, text: str, note: str = "") -> int:
        return self._mark("control", None, None, form, text, note)

    def indirect_plant(self, imported: str, form: str, text: str, note: str = "") -> int:
        return self._mark("indirect_plant", "TG004", imported, form, text, note)

    def indirect_control(self, form: str, text: str, note: str = "") -> int:
        return self._mark("indirect_control", None, None, form, text, note)

    def render(self) -> bytes:
        if self.raw is not None:
            return self.raw
        text = self.newline.join(self.lines) + self.newline
        data = text.encode(self.encoding)
        return b"\xef\xbb\xbf" + data if self.bom else data


def module_name(path: str) -> str:
    """``podcasts/api/routers/__init__.py`` -> ``podcasts.api.routers``."""
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def camel(*words: str) -> str:
    return "".join(w.capitalize() for part in words for w in part.split("_"))


# --------------------------------------------------------------------------- filler code

NOUNS = (
    "episode",
    "feed",
    "show",
    "listener",
    "invoice",
    "payment",
    "playlist",
    "transcript",
    "artwork",
    "subscription",
    "campaign",
    "segment",
    "royalty",
    "upload",
    "chapter",
    "review",
    "tag",
    "report",
    "quota",
    "season",
    "creator",
    "download",
    "rating",
    "ledger",
)
VERBS = (
    "ingest",
    "sync",
    "render",
    "index",
    "export",
    "resolve",
    "validate",
    "schedule",
    "notify",
    "archive",
    "publish",
    "score",
    "merge",
    "audit",
    "refresh",
    "import",
)
STATES = ("draft", "queued", "active", "paused", "failed", "retired", "archived", "pending")
SUBGROUPS = ("core", "v2", "internal", "public", "reports", "sync", "admin", "legacy_api")

# (layer, weight, subpackages, first-party layers it may import)
LAYERS: tuple[tuple[str, float, tuple[str, ...], tuple[str, ...]], ...] = (
    ("utils", 0.07, ("utils",), ("utils",)),
    ("models", 0.12, ("models",), ("models", "utils")),
    ("integrations", 0.02, ("integrations.partners",), ("utils",)),
    (
        "domain",
        0.26,
        ("domain.catalog", "domain.publishing", "domain.audience", "domain.monetization"),
        ("domain", "models", "utils"),
    ),
    ("schemas", 0.06, ("api.schemas",), ("models",)),
    ("clients", 0.05, ("clients",), ("utils", "models")),
    ("adapters", 0.05, ("adapters",), ("clients", "domain", "models")),
    ("infrastructure", 0.04, ("infrastructure.storage",), ("utils", "models")),
    (
        "services",
        0.08,
        ("api.services.billing_ops", "api.services.search"),
        ("domain", "models", "clients", "adapters", "schemas"),
    ),
    ("scheduling", 0.03, ("worker.scheduling",), ("domain", "models", "infrastructure")),
    (
        "episodes",
        0.06,
        ("api.services.episodes",),
        ("domain", "models", "utils", "schemas", "infrastructure"),
    ),
    ("routers", 0.09, ("api.routers",), ("domain", "models", "schemas", "utils")),
    ("tasks", 0.07, ("worker.tasks",), ("domain", "models", "utils", "infrastructure")),
)
PROTECTED_LAYERS = frozenset({"episodes", "routers", "tasks"})

STD_IMPORTS = (
    "import hashlib",
    "import itertools",
    "import json",
    "import re",
    "import uuid",
    "from collections import Counter, defaultdict",
    "from decimal import Decimal",
    "from functools import lru_cache",
    "from pathlib import PurePosixPath",
    "from urllib.parse import urlencode, urljoin",
    "import os",
    "from contextlib import contextmanager",
    "import concurrent.futures",
    "from concurrent.futures import ThreadPoolExecutor",
    "from http import HTTPStatus",
    "import textwrap",
)
THIRD_PARTY = {
    "utils": ("import structlog",),
    "models": ("from pydantic import BaseModel, Field", "import sqlalchemy as sa"),
    "integrations": ("import urllib.request", "import http.client", "import structlog"),
    "domain": ("import structlog", "from google.cloud import storage", "import attrs"),
    "schemas": ("from pydantic import BaseModel, Field",),
    "clients": (
        "import httpx",
        "import requests",
        "import aiohttp",
        "import urllib3",
        "from requests.adapters import HTTPAdapter",
    ),
    "adapters": (
        "import multiprocessing",
        "from concurrent.futures import ProcessPoolExecutor",
        "import httpx",
        "import requests",
    ),
    "infrastructure": (
        "import sqlalchemy as sa",
        "from sqlalchemy.orm import Session",
        "import redis",
        "from google.cloud import storage",
    ),
    "services": ("import requests", "import structlog", "from google.cloud import pubsub_v1"),
    "scheduling": ("import structlog", "from google.cloud import pubsub_v1"),
    "episodes": ("import structlog", "from pydantic import BaseModel, Field"),
    "routers": ("from fastapi import APIRouter, Depends, HTTPException",),
    "tasks": ("import structlog", "from concurrent.futures import ThreadPoolExecutor"),
}
# Third-party names every module of the layer imports (the rest are drawn at random).
ALWAYS = {
    "clients": ("import httpx",),
    "adapters": ("import multiprocessing",),
    "routers": ("from fastapi import APIRouter, Depends, HTTPException",),
}

HEADER_STD = (
    "import asyncio",
    "import logging",
    "from collections.abc import Iterable, Mapping, Sequence",
    "from dataclasses import dataclass, field",
    "from datetime import datetime, timedelta, timezone",
    "from enum import Enum",
    "from typing import Any",
)


@dataclass(frozen=True)
class Filler:
    """A generated module other modules may import: its name and main class."""

    module: str
    cls: str
    layer: str


def _docstring(rng: random.Random, noun: str, verb: str, area: str) -> list[str]:
    first, second = rng.choice(
        (
            (
                f"Every {noun} passes through here before it is stored; incoming requests are",
                "validated once and the result is cached per process.",
            ),
            (
                f"The functions below are called by the API layer and by queued tasks; a {noun}",
                "is never mutated in place, so callers can share instances freely.",
            ),
            (
                f"This module keeps the {noun} rules in one place so requests from the app and",
                "from the worker behave the same way.",
            ),
        )
    )
    return [f'"""{verb.capitalize()} {noun}s for the {area} area.', "", first, second, '"""']


def _block_enum(rng: random.Random, name: str, noun: str) -> list[str]:
    members = rng.sample(STATES, k=rng.randint(3, 6))
    out = [f"class {name}State(str, Enum):", f'    """Lifecycle of a {noun}."""', ""]
    out += [f'    {m.upper()} = "{m}"' for m in members]
    return [*out, "", ""]


def _block_dataclass(rng: random.Random, name: str, noun: str) -> list[str]:
    age = rng.choice((7, 14, 30, 90))
    return [
        "@dataclass(frozen=True)",
        f"class {name}:",
        f'    """One {noun} as the rest of the service sees it.',
        "",
        f"    Instances are immutable: use :meth:`with_tags` to derive a changed {noun}.",
        '    """',
        "",
        "    id: str",
        "    created_at: datetime",
        "    owner_id: str | None = None",
        "    tags: tuple[str, ...] = ()",
        "    attributes: dict[str, Any] = field(default_factory=dict)",
        "",
        "    def is_stale(",
        f"        self, now: datetime | None = None, *, max_age_days: int = {age}",
        "    ) -> bool:",
        f'        """Whether this {noun} is older than ``max_age_days``."""',
        "        now = now or datetime.now(timezone.utc)",
        "        return (now - self.created_at) > timedelta(days=max_age_days)",
        "",
        f"    def with_tags(self, *tags: str) -> {name}:",
        f'        """A copy of this {noun} with ``tags`` added, duplicates dropped."""',
        "        merged = tuple(dict.fromkeys((*self.tags, *tags)))",
        f"        return {name}(",
        "            self.id, self.created_at, self.owner_id, merged, dict(self.attributes)",
        "        )",
        "",
        "    def to_dict(self) -> dict[str, Any]:",
        '        """A JSON-ready view of this record."""',
        "        return {",
        '            "id": self.id,',
        '            "created_at": self.created_at.isoformat(),',
        '            "owner_id": self.owner_id,',
        '            "tags": list(self.tags),',
        "            **self.attributes,",
        "        }",
        "",
        "",
    ]


def _block_function(rng: random.Random, name: str, noun: str, verb: str, idx: int) -> list[str]:
    limit = rng.choice((10, 25, 50, 100, 500))
    return [
        f"def {verb}_{noun}s_{idx}(",
        f"    items: Iterable[{name}],",
        "    *,",
        f"    limit: int = {limit},",
        "    since: datetime | None = None,",
        ") -> list[dict[str, Any]]:",
        f'    """{verb.capitalize()} every {noun} in ``items``, newest first, at most ``limit``.',
        "",
        "    Items older than ``since`` are skipped; the rest come back as plain dicts so the",
        "    caller can serialise them without importing this module's types.",
        '    """',
        "    selected: list[dict[str, Any]] = []",
        "    for item in sorted(items, key=lambda i: i.created_at, reverse=True):",
        "        if since is not None and item.created_at < since:",
        "            continue",
        "        selected.append(item.to_dict())",
        "        if len(selected) >= limit:",
        "            break",
        f'    logger.debug("{verb}_{noun}s selected %d of at most %d", len(selected), limit)',
        "    return selected",
        "",
        "",
    ]


def _block_async(rng: random.Random, noun: str, verb: str, idx: int) -> list[str]:
    conc = rng.choice((2, 4, 8, 16))
    return [
        f"async def {verb}_{noun}_batch_{idx}(",
        f"    batch: Sequence[str], *, concurrency: int = {conc}",
        ") -> dict[str, bool]:",
        f'    """Check a batch of {noun} keys concurrently, ``concurrency`` at a time."""',
        "    semaphore = asyncio.Semaphore(concurrency)",
        "    results: dict[str, bool] = {}",
        "",
        "    async def _one(key: str) -> None:",
        "        async with semaphore:",
        "            await asyncio.sleep(0)",
        "            results[key] = bool(key.strip())",
        "",
        "    await asyncio.gather(*(_one(key) for key in batch))",
        "    return results",
        "",
        "",
    ]


def _block_service(rng: random.Random, name: str, noun: str, verb: str, area: str) -> list[str]:
    retries = rng.randint(1, 5)
    return [
        f"class {name}Service:",
        f'    """Coordinates {noun} {verb} work for the {area} area.',
        "",
        "    Instances are cheap; build one per request and drop it afterwards.",
        '    """',
        "",
        f"    max_retries: int = {retries}",
        "",
        "    def __init__(self, repository: Mapping[str, Any], *, clock: Any = None) -> None:",
        "        self._repository = dict(repository)",
        "        self._clock = clock or (lambda: datetime.now(timezone.utc))",
        "        self._seen: set[str] = set()",
        "",
        "    @property",
        "    def size(self) -> int:",
        "        return len(self._repository)",
        "",
        "    def get(self, key: str) -> Any | None:",
        f'        """The {noun} stored under ``key``, if any."""',
        "        self._seen.add(key)",
        "        return self._repository.get(key)",
        "",
        "    def pending(self) -> list[str]:",
        '        """Keys not looked at yet, in a stable order."""',
        "        return sorted(set(self._repository) - self._seen)",
        "",
        "    def summary(self) -> dict[str, int]:",
        '        """How many records carry each tag."""',
        "        counts: dict[str, int] = {}",
        "        for item in self._repository.values():",
        "            for tag in getattr(item, 'tags', ()):",
        "                counts[tag] = counts.get(tag, 0) + 1",
        "        return counts",
        "",
        "",
    ]


def _block_error(name: str, noun: str) -> list[str]:
    return [
        f"class {name}Error(Exception):",
        f'    """A {noun} could not be processed; ``key`` names it."""',
        "",
        "    def __init__(self, key: str, reason: str) -> None:",
        "        super().__init__(f'{key}: {reason}')",
        "        self.key = key",
        "        self.reason = reason",
        "",
        "",
    ]


def _block_constants(rng: random.Random, noun: str) -> list[str]:
    return [
        f"DEFAULT_{noun.upper()}_PAGE_SIZE = {rng.choice((20, 50, 100))}",
        f"MAX_{noun.upper()}_AGE = timedelta(days={rng.choice((1, 7, 30, 365))})",
        f"{noun.upper()}_FIELDS: tuple[str, ...] = (",
        '    "id",',
        '    "created_at",',
        '    "owner_id",',
        '    "tags",',
        ")",
        "",
        "",
    ]


def _block_router(noun: str, idx: int) -> list[str]:
    return [
        f'@router.get("/{noun}s/{{item_id}}")',
        f"async def read_{noun}_{idx}(item_id: str) -> dict[str, Any]:",
        f'    """Return one {noun}; 404 when it does not exist."""',
        "    if not item_id.strip():",
        f'        raise HTTPException(status_code=404, detail="{noun} not found")',
        f'    return {{"id": item_id, "kind": "{noun}"}}',
        "",
        "",
    ]


def _block_task(noun: str, verb: str, idx: int) -> list[str]:
    return [
        f"def handle_{verb}_{noun}_{idx}(payload: Mapping[str, Any]) -> dict[str, Any]:",
        f'    """Worker entry point: {verb} the {noun} named in ``payload``.',
        "",
        "    Cloud Tasks retries failed tasks, so this must be idempotent: a second delivery",
        "    of the same payload finds the work done and returns the same result.",
        '    """',
        f'    key = str(payload.get("{noun}_id", ""))',
        "    if not key:",
        '        return {"ok": False, "reason": "missing id"}',
        "    started = datetime.now(timezone.utc)",
        f'    logger.info("{verb} %s started", key)',
        '    return {"ok": True, "key": key, "started": started.isoformat()}',
        "",
        "",
    ]


def _block_schema(name: str, noun: str) -> list[str]:
    return [
        f"class {name}Payload(BaseModel):",
        f'    """Request body for a {noun}."""',
        "",
        "    title: str = Field(min_length=1, max_length=200)",
        "    description: str = ''",
        "    tags: list[str] = Field(default_factory=list)",
        "",
        "",
    ]


def filler_source(
    rng: random.Random,
    path: str,
    layer: str,
    area: str,
    first_party: list[tuple[str, str]],
    idx: int,
) -> tuple[Source, str]:
    """One realistic module of ``layer``; returns it and the name of its main class."""
    noun, verb = rng.choice(NOUNS), rng.choice(VERBS)
    name = camel(noun, verb) + str(idx)
    src = Source(path)
    std = {*HEADER_STD, *rng.sample(STD_IMPORTS, k=rng.randint(1, 4))}
    src.add(*_docstring(rng, noun, verb, area), "", "from __future__ import annotations", "")
    src.add(*sorted(std, key=lambda line: (line.startswith("from"), line)))
    tp = set(ALWAYS.get(layer, ()))
    pool = THIRD_PARTY.get(layer, ())
    if pool:
        tp.update(rng.sample(pool, k=rng.randint(0, min(2, len(pool)))))
    if tp:
        src.add("", *sorted(tp))
    if first_party:
        src.add("", *(f"from {mod} import {cls}" for mod, cls in first_party))
    src.add("", f"__all__ = [{name!r}, {name + 'Service'!r}]", "")
    src.add("logger = logging.getLogger(__name__)")
    if layer == "routers":
        src.add(f'router = APIRouter(prefix="/{noun}s", tags=["{noun}"])')
    src.add("", "")
    target = rng.randint(165, 215)
    src.add(*_block_constants(rng, noun), *_block_enum(rng, name, noun))
    src.add(*_block_dataclass(rng, name, noun))
    src.add(*_block_service(rng, name, noun, verb, area))
    n = 0
    while src.next_line < target - 10:
        n += 1
        choice = rng.random()
        if layer == "routers" and choice < 0.35:
            src.add(*_block_router(noun, n))
        elif layer == "tasks" and choice < 0.35:
            src.add(*_block_task(noun, verb, n))
        elif layer in ("schemas", "episodes") and choice < 0.25:
            src.add(*_block_schema(name + str(n), noun))
        elif choice < 0.6:
            src.add(*_block_function(rng, name, noun, verb, n))
        elif choice < 0.8:
            src.add(*_block_async(rng, noun, verb, n))
        else:
            src.add(*_block_error(name + str(n), noun))
    while src.lines and src.lines[-1] == "":
        src.lines.pop()
    return src, name


# --------------------------------------------------------------------------- the corpus


class Corpus:
    def __init__(self, modules: int, seed: int) -> None:
        self.modules = modules
        self.seed = seed
        self.rng = random.Random(f"taskguard-corpus:{seed}:{modules}")
        n_roots = 2 if modules < 2500 else min(len(ROOT_NAMES), max(2, modules // 1250))
        self.roots = ROOT_NAMES[:n_roots]
        self.files: dict[str, Source] = {}
        self.symlinks: dict[str, str] = {}

    # ------------------------------------------------------------------ helpers

    def put(self, src: Source) -> Source:
        if src.path in self.files:
            raise AssertionError(f"generated twice: {src.path}")
        self.files[src.path] = src
        return src

    def new(self, path: str, doc: str) -> Source:
        src = Source(path)
        src.add(f'"""{doc}"""', "", "from __future__ import annotations", "")
        return self.put(src)

    def package(self, dotted: str, doc: str | None = None) -> None:
        """Make sure every package on ``dotted`` has an ``__init__.py``."""
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            path = "/".join(parts[:i]) + "/__init__.py"
            if path not in self.files:
                text = doc if (doc and i == len(parts)) else f"The {parts[i - 1]} package."
                src = Source(path)
                src.add(f'"""{text}"""')
                self.put(src)

    def first_party_modules(self) -> list[str]:
        return sorted(
            p for p in self.files if p.split("/", 1)[0] in self.roots and p.endswith(".py")
        )

    # ------------------------------------------------------------------ build

    def build(self) -> None:
        for root in self.roots:
            for _layer, _w, subs, _imp in LAYERS:
                for sub in subs:
                    self.package(f"{root}.{sub}")
        self.special()
        self.fill()

    def fill(self) -> None:
        rng = self.rng
        remaining = self.modules - len(self.first_party_modules())
        if remaining < 0:
            raise SystemExit(f"--modules must be at least {self.modules - remaining}")
        per_root = [remaining // len(self.roots)] * len(self.roots)
        for i in range(remaining % len(self.roots)):
            per_root[i] += 1
        total_weight = sum(w for _l, w, _s, _i in LAYERS)
        for root, budget in zip(self.roots, per_root, strict=True):
            counts = [int(budget * w / total_weight) for _l, w, _s, _i in LAYERS]
            for i in range(budget - sum(counts)):
                counts[i % len(counts)] += 1
            registry: dict[str, list[Filler]] = {}
            for (layer, _w, subs, allowed), count in zip(LAYERS, counts, strict=True):
                made: list[Filler] = registry.setdefault(layer, [])
                chunks = max(1, -(-count // 45))
                packages = []
                for c in range(chunks):
                    pkg = f"{root}.{subs[c % len(subs)]}"
                    extra = c // len(subs)
                    if extra:
                        pkg += "." + SUBGROUPS[(extra - 1) % len(SUBGROUPS)]
                        if extra > len(SUBGROUPS):
                            pkg += str(extra)
                    packages.append(pkg)
                new_inits = 0
                for pkg in packages:
                    before = len(self.files)
                    self.package(pkg)
                    new_inits += len(self.files) - before
                # Package __init__ files count as modules too.
                for k in range(max(0, count - new_inits)):
                    pkg = packages[k % len(packages)]
                    targets = [f for lay in allowed for f in registry.get(lay, [])]
                    picks = rng.sample(targets, k=min(len(targets), rng.randint(0, 4)))
                    # Worker tasks enqueue follow-up work through the sanctioned client:
                    # a first-party chain into the dispatch library that is no violation.
                    if layer in ("tasks", "scheduling") and rng.random() < 0.3:
                        picks.append(
                            Filler(f"{root}.infrastructure.tasks_client", "enqueue", "infra")
                        )
                    stem = f"{rng.choice(NOUNS)}_{rng.choice(VERBS)}"
                    path = f"{pkg.replace('.', '/')}/{stem}.py"
                    n = 2
                    while path in self.files:
                        path = f"{pkg.replace('.', '/')}/{stem}_{n}.py"
                        n += 1
                    imports = []
                    for f in picks:
                        imports.append((self._import_from(pkg, f.module, rng), f.cls))
                    src, cls = filler_source(
                        rng, path, layer, pkg.split(".")[-1], imports, len(self.files)
                    )
                    self.put(src)
                    made.append(Filler(module_name(path), cls, layer))

    @staticmethod
    def _import_from(importer_pkg: str, target: str, rng: random.Random) -> str:
        """``target`` as a ``from`` clause, sometimes written relative to ``importer_pkg``."""
        if rng.random() >= 0.3:
            return target
        p, t = importer_pkg.split("."), target.split(".")
        common = 0
        while common < min(len(p), len(t) - 1) and p[common] == t[common]:
            common += 1
        if common == 0:
            return target
        return "." * (len(p) - common + 1) + ".".join(t[common:])

    # ------------------------------------------------------------------ plants

    def special(self) -> None:
        r, b = self.roots[0], self.roots[1]
        self.package(f"{r}.api.routers", "HTTP routers of the public API.")
        self.package(f"{r}.api.integrations")
        self.package(f"{r}.integrations")
        self.package(f"{r}.adapters")
        self.package(f"{r}.clients")
        self.package(f"{b}.adapters")

        # First-party modules the plants refer to.
        for root in self.roots:
            src = self.new(
                f"{root}/integrations/http_fanout.py",
                "Legacy fan-out helper: forbidden in protected code by the policy.",
            )
            src.add("import asyncio", "", "", "async def fan_out(urls: list[str]) -> int:")
            src.add("    await asyncio.sleep(0)", "    return len(urls)")
            src = self.new(f"{root}/integrations/webhooks.py", "Outgoing webhook signatures.")
            src.add("import hmac", "", "", "def sign(key: bytes, body: bytes) -> str:")
            src.add("    return hmac.new(key, body, 'sha256').hexdigest()")
        src = self.new(f"{r}/api/integrations/http_fanout.py", "API-level fan-out: allowed.")
        src.add("def fan_out(urls: list[str]) -> int:", "    return len(urls)")

        # ---- the sanctioned modules (controls): a module, and a package with a submodule.
        self.package(f"{r}.infrastructure")
        src = self.new(
            f"{r}/infrastructure/tasks_client.py",
            "The one module that talks to Cloud Tasks (sanctioned by the policy).",
        )
        src.control("sanctioned-module", "from google.cloud import tasks_v2")
        src.control("sanctioned-module", "from google.cloud.tasks_v2 import CloudTasksClient")
        src.add("", "", "def enqueue(path: str, body: bytes) -> str:")
        src.add("    client = CloudTasksClient()", "    del client, body", "    return path")
        for root in self.roots[2:]:
            src = self.new(f"{root}/infrastructure/tasks_client.py", "Cloud Tasks access.")
            src.control("sanctioned-module", "from google.cloud import tasks_v2")
            src.add("", "", "def enqueue(path: str, body: bytes) -> str:")
            src.add("    del body", "    return path + tasks_v2.__name__")
        self.package(f"{b}.infrastructure.tasks_client", "Cloud Tasks access, as a package.")
        src = self.files[f"{b}/infrastructure/tasks_client/__init__.py"]
        src.control("sanctioned-package", "from google.cloud import tasks_v2")
        src.add("", "", "def enqueue(path: str, body: bytes) -> str:")
        src.add("    del body", "    return path + tasks_v2.__name__")
        src = self.new(f"{b}/infrastructure/tasks_client/retry.py", "Retry policy for creates.")
        src.control("sanctioned-submodule", "import google.cloud.tasks_v2 as tasks")
        src.control("sanctioned-submodule", "from google.cloud.tasks_v2.types import Task")

        # ---- TG001 outside the sanctioned modules.
        src = self.new(
            f"{r}/infrastructure/tasks_clientele.py", "Near miss of the sanctioned name."
        )
        src.plant(
            "TG001",
            "google.cloud.tasks_v2",
            "near-miss-sanctioned",
            "from google.cloud import tasks_v2",
            "tasks_clientele is not tasks_client: segment boundaries",
        )
        self.package(f"{r}.domain.publishing")
        src = self.new(f"{r}/domain/publishing/scheduler.py", "Publishing schedules.")
        src.plant(
            "TG001",
            "google.cloud.tasks_v2",
            "from-import-submodule",
            "from google.cloud import tasks_v2",
        )
        src.control("from-import-sibling", "from google.cloud import storage")
        src.plant(
            "TG001",
            "google.cloud.tasks_v2beta3",
            "import-as",
            "import google.cloud.tasks_v2beta3 as tasks_beta",
        )
        src.plant(
            "TG001",
            "google.cloud.tasks_v2.types",
            "from-deep-module",
            "from google.cloud.tasks_v2.types import Task",
        )
        src.plant(
            "TG001", "google.cloud.tasks", "from-import-submodule", "from google.cloud import tasks"
        )
        src.control("from-import-sibling", "from google.cloud import pubsub_v1")
        # A byte-level prefilter that follows a parenthesised import from its line must not
        # be fooled by a string before the statement that holds "import", "#" or ")".
        src = self.new(f"{r}/domain/publishing/labels.py", "Display labels.")
        src.plant(
            "TG001",
            "google.cloud.tasks_v2",
            "string-hash-before-parenthesised-import",
            'PREFIX = "import #"; from google.cloud import (\n    tasks_v2,\n)',
        )
        src = self.new(f"{r}/domain/publishing/markers.py", "Display markers.")
        src.plant(
            "TG001",
            "google.cloud.tasks_v2",
            "string-paren-before-parenthesised-import",
            'CLOSE = "import )"; from google.cloud import (\n    tasks_v2,\n)',
        )
        src.control(
            "near-miss-segment",
            "import google.cloud.tasks_helpers",
            "google.cloud.tasks_helpers is not google.cloud.tasks",
        )
        src.add("", "", "def bucket_name() -> str:", "    return storage.__name__")

        self.package(f"{r}.api.routers")
        src = self.new(
            f"{r}/api/routers/enqueue_direct.py",
            (
                "Enqueues straight from a router.\n\nThe old way was ``from google.cloud import "
                "tasks_v2`` right here; it must not come back.\n"
            ),
        )
        src.control("string-mention", "# import httpx  (kept as a comment for history)")
        src.control("string-mention", 'SNIPPET = "import httpx"')
        src.control(
            "string-mention",
            "EXAMPLE = '''\nimport requests\nfrom google.cloud import tasks_v2\n'''",
        )
        src.plant(
            "TG001",
            "google.cloud.tasks_v2",
            "protected-dispatch",
            "from google.cloud import tasks_v2",
        )
        src.plant(
            "TG001",
            "google.cloud.tasks_v2beta3",
            "whitespace-in-dotted-name",
            "from google . cloud import tasks_v2beta3",
        )
        src.plant(
            "TG001",
            "google.cloud.tasks_v2beta2",
            "parenthesised-multiline",
            "from google.cloud import (\n    storage,\n    tasks_v2beta2,\n)",
        )
        src.plant("TG002", "httpx", "backslash-continuation", "import json, \\\n    httpx")
        src.plant("TG002", "requests", "after-semicolon", "RETRIES = 3; import requests")
        src.add('NOTE = """An import on the line that closes a string:')
        src.plant("TG002", "aiohttp", "after-multiline-string", '"""; import aiohttp')
        src.plant("TG002", "urllib3", "one-line-compound", "if RETRIES: import urllib3")

        # ---- TG002: every statement form, in a protected router.
        src = self.new(f"{r}/api/routers/episodes_admin.py", "Admin routes for episodes.")
        src.plant("TG002", "httpx", "import", "import httpx")
        src.plant(
            "TG002", "requests.adapters", "import-as", "import requests.adapters as retry_adapters"
        )
        src.plant("TG002", "aiohttp", "from-import", "from aiohttp import ClientSession")
        src.plant("TG002", "urllib3.util", "from-import-module", "from urllib3.util import Retry")
        src.plant("TG002", "urllib.request", "dotted-import", "import urllib.request")
        src.plant(
            "TG002",
            "http.client",
            "from-import-submodule",
            "from http import client as http_client",
        )
        src.control("sibling-submodule", "import urllib.parse")
        src.control("sibling-submodule", "from http import HTTPStatus")
        src.control(
            "near-miss-prefix", "import requests_toolbelt", "requests_toolbelt is not requests"
        )
        src.control("near-miss-prefix", "import httpx_utils", "httpx_utils is not httpx")

        src = self.new(f"{r}/api/routers/fanout.py", "Fan-out routes.")
        src.plant(
            "TG002",
            "concurrent.futures.ProcessPoolExecutor",
            "member",
            "from concurrent.futures import ProcessPoolExecutor",
        )
        src.control("member-sibling", "from concurrent.futures import ThreadPoolExecutor")
        src.control("member-parent", "import concurrent.futures")
        src.plant(
            "TG002",
            "concurrent.futures.ProcessPoolExecutor",
            "member-attribute",
            "POOL_FACTORY = concurrent.futures.ProcessPoolExecutor",
        )
        src.control("member-attribute-sibling", "THREADS = concurrent.futures.ThreadPoolExecutor")
        src.plant(
            "TG002",
            "concurrent.futures.ProcessPoolExecutor",
            "member-alias-in-list",
            "from concurrent.futures import ThreadPoolExecutor as Threads, "
            "ProcessPoolExecutor as Pool",
        )
        src.plant(
            "TG002",
            f"{r}.integrations.http_fanout",
            "relative",
            "from ...integrations import http_fanout",
        )
        src.control("relative", "from ...integrations import webhooks")
        src.plant(
            "TG002",
            f"{r}.integrations.http_fanout",
            "from-import-first-party",
            f"from {r}.integrations import http_fanout as fanout_abs",
        )
        src.plant(
            "TG002",
            f"{r}.integrations.http_fanout",
            "from-first-party-module",
            f"from {r}.integrations.http_fanout import fan_out",
        )
        src.control("from-import-first-party", f"from {r}.integrations import webhooks")

        src = self.files[f"{r}/api/routers/__init__.py"]
        src.control(
            "relative-in-package-init",
            "from ..integrations import http_fanout",
            f"in a package __init__ this is {r}.api.integrations.http_fanout (allowed), "
            f"not {r}.integrations.http_fanout",
        )
        self.package(f"{r}.api.routers.admin", "Admin-only routes.")
        src = self.files[f"{r}/api/routers/admin/__init__.py"]
        src.plant(
            "TG002",
            f"{r}.integrations.http_fanout",
            "relative-in-package-init",
            "from ....integrations.http_fanout import fan_out",
        )
        src = self.new(f"{r}/api/routers/admin/audit.py", "Audit log routes.")
        src.add("AUDIT_FIELDS = ('who', 'what', 'when')")

        src = self.new(f"{r}/api/routers/health.py", "Health probe of the upstream API.")
        src.control("allow-entry", "import httpx", "excused by a [[tool.taskguard.allow]] entry")

        src = self.new(f"{r}/api/routers/streaming.py", "Streaming proxy routes.")
        src.control(
            "inline-suppression",
            "import httpx  # taskguard: ignore[TG002] -- streaming proxy, see ADR-12",
        )
        src.control(
            "inline-suppression-multiline",
            "from requests import (  # taskguard: ignore[TG002] -- legacy export endpoint\n"
            "    Session,\n)",
        )
        stale = src.plant(
            "TG005",
            None,
            "stale-suppression",
            "import json  # taskguard: ignore[TG002] -- left over from httpx",
        )
        del stale
        line = src.plant(
            "TG002",
            "aiohttp",
            "suppression-wrong-code",
            "import aiohttp  # taskguard: ignore[TG001] -- wrong code",
        )
        src.marks.append(
            Mark("plant", src.path, line, line, "TG005", None, "suppression-wrong-code")
        )

        # ---- nesting: functions, methods, classes, try/except/else/finally, if/else, with,
        # async, loops, match, comprehensions.
        self.package(f"{r}.worker.tasks")
        src = self.new(f"{r}/worker/tasks/transcode.py", "Transcoding tasks.")
        src.add("import contextlib", "", "")
        src.add("def transcode(path: str) -> int:", '    """Transcode one file."""')
        src.plant("TG002", "multiprocessing", "in-function", "    import multiprocessing")
        src.add("    return multiprocessing.cpu_count() + len(path)", "", "")
        src.add("class Transcoder:", '    """Transcodes with a pool."""', "")
        src.plant("TG002", "requests", "in-class-body", "    import requests")
        src.add("", "    def run(self) -> None:")
        src.plant("TG002", "httpx", "in-method", "        import httpx")
        src.add("        del httpx", "", "    @staticmethod", "    def helper() -> None:")
        src.add("        def inner() -> None:")
        src.plant("TG002", "aiohttp", "in-nested-function", "            import aiohttp")
        src.add("            del aiohttp", "", "        inner()", "", "")
        src.add("try:")
        src.plant("TG002", "aiohttp", "in-try", "    import aiohttp")
        src.add("except ImportError:")
        src.plant("TG002", "urllib3", "in-except", "    import urllib3")
        src.add("else:")
        src.plant("TG002", "urllib.request", "in-try-else", "    import urllib.request")
        src.add("finally:")
        src.plant("TG002", "http.client", "in-finally", "    from http import client")
        src.add("", "FAST = True", "if FAST:")
        src.plant("TG002", "httpx", "in-if", "    import httpx")
        src.add("elif __debug__:", "    pass", "else:")
        src.plant("TG002", "requests", "in-else", "    import requests")
        src.add("", "with contextlib.suppress(ImportError):")
        src.plant("TG002", "multiprocessing.pool", "in-with", "    import multiprocessing.pool")
        src.add("", "", "async def fetch_all() -> None:")
        src.plant("TG002", "aiohttp", "in-async-function", "    import aiohttp")
        src.add("    async with contextlib.AsyncExitStack():")
        src.plant("TG002", "httpx", "in-async-with", "        import httpx")
        src.add("", "", "for _attempt in range(1):")
        src.plant("TG002", "urllib3", "in-for", "    import urllib3")
        src.add("while False:")
        src.plant("TG002", "requests", "in-while", "    import requests")
        src.add("", "", "def pick(kind: str) -> object:", "    match kind:", '        case "http":')
        src.plant("TG002", "httpx", "in-match-case", "            import httpx")
        src.add("            return httpx", "        case _:", "            return None", "", "")
        src.plant(
            "TG002",
            "httpx",
            "dunder-import-in-comprehension",
            'CLIENTS = [__import__("httpx") for _ in range(0)]',
        )
        src.add("", "")
        src.add(
            "def decorated() -> None:",
            "    @contextlib.contextmanager",
            "    def ctx():  # type: ignore[no-untyped-def]",
        )
        src.plant(
            "TG002",
            "requests",
            "in-decorated-nested-function",
            "        from requests import Session",
        )
        src.add("        yield Session", "", "    del ctx")
        src.add("", "", "def lazy_pool() -> object:")
        src.plant(
            "TG002",
            "concurrent.futures.ProcessPoolExecutor",
            "member-in-function",
            "    from concurrent.futures import ProcessPoolExecutor",
        )
        src.add("    return ProcessPoolExecutor")

        # ---- TYPE_CHECKING
        self.package(f"{r}.api.services.episodes")
        src = self.new(f"{r}/api/services/episodes/typing_only.py", "Typing-only imports.")
        src.add("import typing", "from typing import TYPE_CHECKING", "")
        src.control("type-checking", "if TYPE_CHECKING:\n    import httpx")
        src.control(
            "typing.type-checking", "if typing.TYPE_CHECKING:\n    from requests import Session"
        )
        src.control(
            "type-checking-dispatch", "if TYPE_CHECKING:\n    from google.cloud import tasks_v2"
        )
        src.add("if TYPE_CHECKING:", "    pass", "else:")
        src.plant("TG002", "aiohttp", "type-checking-else", "    import aiohttp")
        src.add("", "", "def annotate() -> None:")
        src.control("type-checking-in-function", "    if TYPE_CHECKING:\n        import urllib3")
        src.add("", "", "if not TYPE_CHECKING:")
        src.plant(
            "TG002",
            "urllib3",
            "not-type-checking",
            "    import urllib3",
            "`if not TYPE_CHECKING:` runs at runtime",
        )

        # ---- dynamic and string imports
        src = self.new(f"{r}/api/services/episodes/loader.py", "Plugin loading for episodes.")
        src.add("import importlib", "import re", "from importlib import import_module", "")
        src.plant("TG002", "httpx", "dunder-import", 'HTTP = __import__("httpx")')
        src.plant("TG002", "requests", "import-module", 'REQ = importlib.import_module("requests")')
        src.plant(
            "TG001",
            "google.cloud.tasks_v2",
            "import-module-with-package",
            'TASKS = import_module(".tasks_v2", "google.cloud")',
        )
        src.plant(
            "TG002",
            "multiprocessing.pool",
            "import-module-dotted",
            'POOL = importlib.import_module("multiprocessing.pool")',
        )
        src.control("import-module-allowed", 'JSON = importlib.import_module("json")')
        src.control("dunder-import-allowed", 'OSPATH = __import__("os.path")')
        src.control("re-compile", 'PATTERN = re.compile(r"^ep-[0-9]+$")')
        src.add("", "", "def load(name: str, module_name: str, source: str) -> object:")
        src.plant(
            "TG003", None, "dynamic-import-module", "    plugin = importlib.import_module(name)"
        )
        src.plant("TG003", None, "dynamic-dunder-import", "    other = __import__(module_name)")
        src.plant("TG003", None, "dynamic-f-string", '    extra = import_module(f"plugins.{name}")')
        src.plant("TG003", None, "exec", "    exec(source, {})")
        src.plant("TG003", None, "eval", "    value = eval(source)")
        src.plant("TG003", None, "compile", '    code = compile(source, "<rules>", "exec")')
        src.control("method-named-eval", "    plugin.eval()  # type: ignore[attr-defined]")
        src.add("    return (plugin, other, extra, value, code)")

        src = self.new(f"{r}/adapters/plugin_loader.py", "Plugin loading outside protected code.")
        src.add("import importlib", "")
        src.add("", "def load(name: str, source: str) -> object:")
        src.control("dynamic-outside-protected", "    plugin = importlib.import_module(name)")
        src.control("exec-outside-protected", "    exec(source, {})")
        src.control("eval-outside-protected", "    return eval(source) or plugin")
        src.add("", "")
        src.plant(
            "TG001",
            "google.cloud.tasks_v2",
            "import-module-dispatch",
            'TASKS = importlib.import_module("google.cloud.tasks_v2")',
        )
        src.plant(
            "TG001",
            "google.cloud.tasks",
            "dunder-import-dispatch",
            'TASKS_PKG = __import__("google.cloud.tasks")',
        )
        src.control("forbidden-outside-protected", "import httpx")

        src = self.new(f"{r}/adapters/fanout_adapter.py", "Fan-out outside protected code.")
        src.control("relative-outside-protected", "from ..integrations import http_fanout")

        # ---- encodings and spellings Python normalises
        src = Source(f"{r}/api/routers/legacy_latin1.py", encoding="latin-1")
        src.add(
            "# -*- coding: latin-1 -*-",
            '"""Légacy routes, façade for the Señor app."""',
            "",
            "from __future__ import annotations",
            "",
            "CAFÉ = 'café'",
        )
        src.plant("TG002", "requests", "latin-1-cookie", "import requests")
        src.add("résumé = requests.__name__")
        self.put(src)

        src = Source(f"{r}/worker/tasks/bom_job.py", bom=True)
        src.add('"""A file saved with a UTF-8 byte order mark."""', "")
        src.plant("TG002", "httpx", "utf-8-bom", "import httpx")
        self.put(src)

        src = Source(f"{r}/api/services/episodes/crlf_feed.py", newline="\r\n")
        src.add('"""A file with Windows line endings.', "", "Two lines of prose.", '"""', "")
        src.add("TEXT = '''multi", "line", "'''")
        src.plant("TG002", "aiohttp", "crlf", "import aiohttp")
        self.put(src)

        src = self.new(
            f"{r}/api/services/episodes/wide_names.py", "Identifiers Python NFKC-normalises."
        )
        src.plant("TG002", "httpx", "nfkc", "import \uff48\uff54\uff54\uff50\uff58")
        src.plant(
            "TG001",
            "google.cloud.tasks_v2",
            "nfkc-dispatch",
            "from \uff47\uff4f\uff4f\uff47\uff4c\uff45.cloud import tasks_v\uff12",
        )

        # UTF-7: the bytes of the import never spell the module's name.
        hidden = "+" + base64.b64encode("requests".encode("utf-16-be")).decode().rstrip("=") + "-"
        src = Source(f"{r}/api/services/episodes/utf7_feed.py")
        src.add(
            "# coding: utf-7", '"""A file in UTF-7: a byte-level prefilter sees no name."""', ""
        )
        src.plant("TG002", "requests", "utf-7-cookie", "import requests")
        text = "\n".join(src.lines) + "\n"
        src.raw = text.replace("import requests", "import " + hidden).encode("ascii")
        if src.raw.decode("utf-7") != text:  # pragma: no cover - guards the hand encoding
            raise AssertionError("UTF-7 file does not decode to its text")
        self.put(src)

        self.package(f"{r}.domain.catalog")
        src = self.new(f"{r}/domain/catalog/broken_module.py", "A file with a syntax error.")
        src.add("def fine() -> int:", "    return 1", "", "")
        src.plant("TG900", None, "syntax-error", "def broken(:\n    return 2")
        src = Source(f"{r}/domain/catalog/undecodable.py")
        src.add('"""Not UTF-8 and no coding cookie."""', "", "NAME = 'caf\udce9'")
        text = "\n".join(src.lines) + "\n"
        src.raw = text.encode("utf-8", "surrogateescape")
        src.marks.append(Mark("plant", src.path, 1, 1, "TG900", None, "undecodable"))
        self.put(src)

        # ---- near-miss names (controls)
        self.package(f"{r}.worker.taskset")
        src = self.new(f"{r}/worker/taskset/batching.py", "worker.taskset is not worker.tasks.")
        src.control("near-miss-protected", "import httpx")
        src = self.new(f"{r}/worker/tasks_helpers.py", "worker.tasks_helpers is not protected.")
        src.control("near-miss-protected", "import requests")
        self.package(f"{r}.api.routers_v2")
        src = self.new(f"{r}/api/routers_v2/feeds.py", "api.routers_v2 is not api.routers.")
        src.control("near-miss-protected", "import aiohttp")
        self.package(f"{r}.api.services.episodes_archive")
        src = self.new(f"{r}/api/services/episodes_archive/export.py", "Not protected.")
        src.control("near-miss-protected", "import multiprocessing")

        # ---- files that are not judged
        self.package(f"{r}.{EXCLUDED_DIR}")
        src = self.new(f"{r}/{EXCLUDED_DIR}/tasks_shim.py", "Vendored code, excluded by glob.")
        src.control("excluded-glob", "from google.cloud import tasks_v2")
        for path, form in (
            ("scripts/enqueue_backfill.py", "outside-root-packages"),
            ("tests/test_feeds.py", "outside-root-packages"),
            (f".venv/lib/python3.11/site-packages/{r}_vendored/__init__.py", "skipped-dir"),
            (f"build/lib/{r}/api/routers/old.py", "skipped-dir"),
        ):
            src = self.new(path, "Not first-party code.")
            src.control(form, "from google.cloud import tasks_v2")
            src.control(form, "import httpx")
        self.symlinks[f"{r}/domain/publishing/loop"] = ".."

        # ---- indirect chains (TG004 with indirect = true) and their controls
        src = self.new(f"{r}/clients/feed_http.py", "HTTP client for feeds.")
        src.add("import httpx", "", "", "def fetch_feed(url: str) -> str:")
        src.add("    return httpx.get(url).text")
        src = self.new(f"{r}/adapters/feed_refresh.py", "Refreshes feeds through the client.")
        src.add(
            f"from {r}.clients.feed_http import fetch_feed",
            "",
            "",
            "def refresh_all(urls: list[str]) -> list[str]:",
            "    return [fetch_feed(u) for u in urls]",
        )
        src = self.new(f"{r}/worker/tasks/refresh_feeds.py", "Refreshes every feed.")
        src.indirect_plant(
            "httpx",
            "indirect-chain",
            f"from {r}.adapters.feed_refresh import refresh_all",
            f"{r}.worker.tasks.refresh_feeds -> {r}.adapters.feed_refresh -> "
            f"{r}.clients.feed_http -> httpx",
        )
        src = self.new(f"{b}/adapters/pdf_render.py", "Renders PDFs in worker processes.")
        src.add("import multiprocessing", "", "", "def render(pages: int) -> int:")
        src.add("    return min(pages, multiprocessing.cpu_count())")
        self.package(f"{b}.api.routers")
        src = self.new(f"{b}/api/routers/invoices_export.py", "Invoice export routes.")
        src.indirect_plant(
            "multiprocessing",
            "indirect-chain-relative",
            "from ...adapters import pdf_render",
            f"{b}.api.routers.invoices_export -> {b}.adapters.pdf_render -> multiprocessing",
        )
        src = self.new(f"{r}/worker/tasks/followups.py", "Enqueues follow-up work.")
        src.indirect_control(
            "indirect-through-sanctioned",
            f"from {r}.infrastructure.tasks_client import enqueue",
            "chains through a sanctioned module to the dispatch library are allowed",
        )
        src = self.new(f"{r}/worker/tasks/nightly.py", "Nightly housekeeping.")
        src.indirect_control("indirect-clean-chain", f"from {r}.integrations.webhooks import sign")

    # ------------------------------------------------------------------ configuration

    def pyproject(self, indirect: bool) -> str:
        roots = ", ".join(f'"{x}"' for x in self.roots)
        forbidden = ",\n    ".join(f'"{x}"' for x in (*FORBIDDEN_LIBRARIES, FIRST_PARTY_FORBIDDEN))
        protected = ", ".join(f'"{x}"' for x in PROTECTED)
        sanctioned = ", ".join(f'"{x}"' for x in SANCTIONED)
        head = (
            "[project]\n"
            'name = "taskguard-bench-corpus"\n'
            'version = "0"\n'
            'requires-python = ">=3.10"\n\n'
            if not indirect
            else "# The corpus policy with indirect = true (taskguard check --config ...).\n"
        )
        return (
            f"{head}[tool.taskguard]\n"
            f"root-packages = [{roots}]\n"
            f"sanctioned = [{sanctioned}]\n"
            f"protected = [{protected}]\n"
            f"forbidden-in-protected = [\n    {forbidden},\n]\n"
            'type-checking = "ignore"\n'
            f'exclude = ["*/{EXCLUDED_DIR}/**"]\n'
            + ("indirect = true\n" if indirect else "")
            + "\n[[tool.taskguard.allow]]\n"
            f'importer = "{self.roots[0]}.api.routers.health"\n'
            'imported = "httpx"\n'
            'reason = "health probe of the upstream API, not task dispatch"\n'
        )

    def ruff_configs(self) -> dict[str, str]:
        """ruff's closest equivalent: TID251 banned-api, one nested config per protected
        package (a nested config replaces the banned-api table, so each lists everything)."""

        def banned(names: Iterable[str], why: str) -> str:
            return "".join(f'"{n}".msg = "{why}"\n' for n in names)

        dispatch = banned(DISPATCH_MODULES, "TG001: use dispatch.enqueue_http_task()")
        out = {
            "ruff.toml": (
                "# ruff TID251 equivalent of [tool.taskguard] (see the nested ruff.toml files).\n"
                f'extend-exclude = ["*/{EXCLUDED_DIR}"]\n\n'
                '[lint]\nselect = ["TID251"]\n\n'
                "[lint.flake8-tidy-imports.banned-api]\n"
                f"{dispatch}\n"
                "[lint.per-file-ignores]\n"
                '"**/infrastructure/tasks_client.py" = ["TID251"]\n'
                '"**/infrastructure/tasks_client/**" = ["TID251"]\n'
            )
        }
        first_party = [FIRST_PARTY_FORBIDDEN.replace("*", root) for root in self.roots]
        for root in self.roots:
            for rel in PROTECTED_DIRS:
                depth = len(rel.split("/")) + 1
                text = (
                    f'extend = "{"../" * depth}ruff.toml"\n\n'
                    "[lint.flake8-tidy-imports.banned-api]\n"
                    + dispatch
                    + banned(FORBIDDEN_LIBRARIES, "TG002: forbidden in protected code")
                    + banned(first_party, "TG002: forbidden in protected code")
                )
                if root == self.roots[0] and rel == "api/routers":
                    text += '\n[lint.per-file-ignores]\n"health.py" = ["TID251"]\n'
                out[f"{root}/{rel}/ruff.toml"] = text
        return out

    def importlinter_config(self, indirect: bool) -> str:
        """Forbidden contracts as close to the policy as import-linter can say it.

        import-linter forbids external packages only at the top level (``google``, not
        ``google.cloud.tasks_v2``; ``urllib``, not ``urllib.request``; no members), so those
        entries are approximated by their top-level package.
        """
        ind = "False" if indirect else "True"
        roots = "".join(f"    {x}\n" for x in self.roots)
        protected = "".join(
            f"    {root}.{rel.replace('/', '.')}\n" for root in self.roots for rel in PROTECTED_DIRS
        )
        tops = sorted({n.split(".")[0] for n in FORBIDDEN_LIBRARIES})
        forbidden = "".join(f"    {n}\n" for n in tops)
        forbidden += "".join(f"    {FIRST_PARTY_FORBIDDEN.replace('*', x)}\n" for x in self.roots)
        return (
            "[importlinter]\n"
            f"root_packages =\n{roots}"
            "include_external_packages = True\n"
            "exclude_type_checking_imports = True\n\n"
            "[importlinter:contract:tg001]\n"
            "name = TG001 only the sanctioned tasks clients import google (cloud tasks)\n"
            "type = forbidden\n"
            f"source_modules =\n{roots}"
            "forbidden_modules =\n    google\n"
            "ignore_imports =\n"
            "    *.infrastructure.tasks_client -> google\n"
            "    *.infrastructure.tasks_client.* -> google\n"
            f"    {self.roots[0]}.{EXCLUDED_DIR}.* -> google\n"
            "allow_indirect_imports = True\n"
            "unmatched_ignore_imports_alerting = none\n\n"
            "[importlinter:contract:tg002]\n"
            "name = TG002 protected packages import no forbidden library\n"
            "type = forbidden\n"
            f"source_modules =\n{protected}"
            f"forbidden_modules =\n{forbidden}"
            "ignore_imports =\n"
            f"    {self.roots[0]}.api.routers.health -> httpx\n"
            f"allow_indirect_imports = {ind}\n"
            "unmatched_ignore_imports_alerting = none\n"
        )

    # ------------------------------------------------------------------ output

    def manifest(self) -> dict[str, object]:
        marks = sorted(
            (self._located(m) for src in self.files.values() for m in src.marks),
            key=lambda m: (m.path, m.line, m.kind, m.code or ""),
        )
        first_party = self.first_party_modules()
        excluded = [p for p in first_party if p.split("/")[1] == EXCLUDED_DIR]
        return {
            "version": 1,
            "generator": generator_digest(),
            "modules": len(first_party),
            "judged_files": len(first_party) - len(excluded),
            "seed": self.seed,
            "roots": list(self.roots),
            "lines": sum(len(self.files[p].lines) for p in first_party),
            "symlinks": dict(self.symlinks),
            "plants": [asdict(m) for m in marks if m.kind == "plant"],
            "controls": [asdict(m) for m in marks if m.kind == "control"],
            "indirect_plants": [asdict(m) for m in marks if m.kind == "indirect_plant"],
            "indirect_controls": [asdict(m) for m in marks if m.kind == "indirect_control"],
        }

    def _located(self, mark: Mark) -> Mark:
        """A TG900 mark placed where Python itself reports the error."""
        if mark.code != "TG900":
            return mark
        try:
            compile(self.files[mark.path].render(), mark.path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            line = exc.lineno or 1
            return Mark(mark.kind, mark.path, line, line, mark.code, None, mark.form, mark.note)
        raise AssertionError(f"{mark.path} was meant not to compile")

    def write(self, out: Path) -> dict[str, object]:
        out.mkdir(parents=True, exist_ok=True)
        texts = {
            "pyproject.toml": self.pyproject(indirect=False),
            "taskguard-indirect.toml": self.pyproject(indirect=True),
            "importlinter-direct.ini": self.importlinter_config(indirect=False),
            "importlinter-indirect.ini": self.importlinter_config(indirect=True),
            **self.ruff_configs(),
        }
        for rel, text in texts.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(text, encoding="utf-8")
        made_dirs: set[Path] = set()
        for rel, src in sorted(self.files.items()):
            target = out / rel
            if target.parent not in made_dirs:
                target.parent.mkdir(parents=True, exist_ok=True)
                made_dirs.add(target.parent)
            target.write_bytes(src.render())
        for rel, dest in self.symlinks.items():
            # Without symlink support the corpus simply has no loop to avoid.
            with contextlib.suppress(OSError, NotImplementedError):
                os.symlink(dest, out / rel, target_is_directory=True)
        manifest = self.manifest()
        (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        return manifest


def generate(out: Path, modules: int, seed: int = 0, *, force: bool = False) -> dict[str, object]:
    """Write the corpus into ``out`` and return its manifest."""
    if modules < MIN_MODULES:
        raise SystemExit(f"--modules must be at least {MIN_MODULES}")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise SystemExit(f"{out} is not empty (use --force to replace it)")
        shutil.rmtree(out)
    corpus = Corpus(modules, seed)
    corpus.build()
    return corpus.write(out)


def verify(out: Path, manifest: dict[str, object]) -> list[str]:
    """Problems with a written corpus: every file compiles except the TG900 plants."""
    broken = {p["path"] for p in manifest["plants"] if p["code"] == "TG900"}  # type: ignore[attr-defined, index]
    problems = []
    for root in manifest["roots"]:  # type: ignore[attr-defined]
        for dirpath, _dirs, files in os.walk(out / root):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = Path(dirpath) / name
                rel = path.relative_to(out).as_posix()
                try:
                    compile(path.read_bytes(), rel, "exec", dont_inherit=True)
                    ok = True
                except (SyntaxError, ValueError):
                    ok = False
                if ok == (rel in broken):
                    problems.append(f"{rel}: {'compiles' if ok else 'does not compile'}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory to write the corpus into")
    parser.add_argument("--modules", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace a non-empty OUT")
    parser.add_argument("--verify", action="store_true", help="compile every file afterwards")
    args = parser.parse_args(argv)
    manifest = generate(args.out, args.modules, args.seed, force=args.force)
    print(
        f"wrote {manifest['modules']} modules ({manifest['lines']} lines) in "
        f"{len(manifest['roots'])} root packages to {args.out}: "  # type: ignore[arg-type]
        f"{len(manifest['plants'])} plants, {len(manifest['controls'])} controls, "  # type: ignore[arg-type]
        f"{len(manifest['indirect_plants'])} indirect plants"  # type: ignore[arg-type]
    )
    if args.verify:
        problems = verify(args.out, manifest)
        for problem in problems:
            print("verify:", problem, file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
