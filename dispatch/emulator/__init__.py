"""dispatch.emulator: a Cloud Tasks v2 emulator for tests and local development.

Serves ``google.cloud.tasks.v2.CloudTasks`` over gRPC on loopback and delivers due tasks to
their HTTP targets. ``python -m dispatch.emulator`` runs it standalone; see docs/emulator.md.
"""

from dispatch.emulator._delivery import Delivery
from dispatch.emulator._emulator import DEFAULT_DEDUP_WINDOW, Emulator

__all__ = ["DEFAULT_DEDUP_WINDOW", "Delivery", "Emulator"]
