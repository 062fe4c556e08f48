"""Defaults the command line shows before anything that needs the cloud extra is imported."""

from __future__ import annotations

# Google documents that a task id may stay reserved for up to 24 hours after the task ran or
# was deleted (up to 9 days for queues made from queue.yaml). The emulator holds it for the
# whole documented maximum, so code that passes here cannot trip over a reserved id there.
DEFAULT_DEDUP_WINDOW = 24 * 3600.0
# A deleted queue's name cannot be reused for 7 days.
DEFAULT_QUEUE_REUSE_WINDOW = 7 * 24 * 3600.0
DEFAULT_PORT = 8123
MAX_PORT = 65535
INSTALL_HINT = "pip install 'cloud-tasks-guard[cloud]'"
