"""The allow entry: a documented exception to the policy (``[[tool.taskguard.allow]]``).

A module of its own so that a policy without an entry never builds the class (building a
dataclass compiles its ``__init__`` and frozen ``__setattr__``/``__delattr__``): the policy
loader imports it for a table that has an entry; ``taskguard._policy`` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AllowEntry:
    """A documented exception: ``importer`` may import ``imported`` because ``reason``."""

    importer: str
    imported: str
    reason: str
