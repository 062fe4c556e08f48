"""At-least-once delivery: which successful deliveries are delivered a second time.

Cloud Tasks delivers at least once: in rare cases a task that was delivered and answered
2xx is delivered again. The emulator does it on purpose, at a chosen rate and on demand
(``duplicate_next``), so that a worker that is not idempotent fails in tests, not in
production.
"""

from __future__ import annotations

import random
import threading


class Duplicates:
    """The rate of redeliveries, and the ones asked for explicitly."""

    def __init__(self, rate: float, rng: random.Random) -> None:
        self._lock = threading.Lock()
        self._rate = rate
        self._rng = rng
        self._pending = 0

    @property
    def rate(self) -> float:
        return self._rate

    def add(self, n: int) -> None:
        with self._lock:
            self._pending += n

    def take(self) -> bool:
        """Whether the success being settled now is to be delivered again."""
        if not self._pending and not self._rate:
            return False  # the common case, without the lock
        with self._lock:
            if self._pending:
                self._pending -= 1
                return True
            return self._rng.random() < self._rate

    def clear(self) -> None:
        with self._lock:
            self._pending = 0
