"""dispatch.emulator: a Cloud Tasks v2 emulator for tests and local development.

Serves ``google.cloud.tasks.v2.CloudTasks`` over gRPC on loopback and delivers due tasks to
their HTTP targets. ``python -m dispatch.emulator`` runs it standalone; see docs/emulator.md.

The names are imported on first use, so that ``python -m dispatch.emulator`` can say in one
line that the cloud extra is missing instead of failing while the package is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dispatch.emulator._defaults import DEFAULT_DEDUP_WINDOW

if TYPE_CHECKING:
    from dispatch.emulator._clock import ManualClock
    from dispatch.emulator._delivery import Delivery
    from dispatch.emulator._emulator import Emulator

__all__ = ["DEFAULT_DEDUP_WINDOW", "Delivery", "Emulator", "ManualClock"]

_LAZY = {
    "Delivery": "dispatch.emulator._delivery",
    "Emulator": "dispatch.emulator._emulator",
    "ManualClock": "dispatch.emulator._clock",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dispatch.emulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
