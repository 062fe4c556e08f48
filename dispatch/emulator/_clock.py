"""The emulator's wall clock: system time, or a :class:`ManualClock` that a test moves.

Everything the service does by the calendar reads it: schedule and create times, retry
backoff, the task-name dedup window, the queue-name reuse window, attempt timestamps. Dispatch
deadlines and rate limits are durations of real work and stay on the monotonic clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """What the emulator needs of a clock."""

    def time(self) -> float:
        """Seconds since the epoch, as ``time.time()``."""
        ...

    def wait_hint(self, seconds: float) -> float | None:
        """How long (real seconds) to wait for ``seconds`` of this clock to pass; None: until
        a callback given to :meth:`subscribe` says the clock moved."""
        ...

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever the clock jumps; returns the function that unsubscribes."""
        ...


class SystemClock:
    """``time.time()``; it never jumps, so nothing is told."""

    def time(self) -> float:
        return time.time()

    def wait_hint(self, seconds: float) -> float | None:
        return seconds

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        return _nothing


def _nothing() -> None:
    return None


class ManualClock:
    """A clock that stands still until :meth:`advance` moves it (tests without sleeps).

    ``ManualClock()`` starts at the current time, ``ManualClock(start)`` at ``start``
    (seconds since the epoch). Give it to ``Emulator(clock=...)``: a retry due in an hour
    is delivered as soon as the test calls ``clock.advance(3600)``, and a task name is free
    again once the clock has passed the dedup window.
    """

    def __init__(self, start: float | None = None) -> None:
        if start is None:
            start = time.time()
        _check_number(start, "start")
        self._lock = threading.Lock()
        self._now = float(start)
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next_id = 0

    def time(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward (never back); returns the new time."""
        _check_number(seconds, "seconds")
        if seconds < 0:
            raise ValueError("a ManualClock only moves forward: seconds must not be negative")
        with self._lock:
            self._now += float(seconds)
            now = self._now
            callbacks = list(self._callbacks.values())
        # Outside the lock: a callback may read the clock, or take locks of its own.
        for callback in callbacks:
            callback()
        return now

    def wait_hint(self, seconds: float) -> float | None:
        return None

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            key = self._next_id
            self._next_id += 1
            self._callbacks[key] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._callbacks.pop(key, None)

        return unsubscribe

    def __repr__(self) -> str:
        return f"ManualClock({self.time()!r})"


def _check_number(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")


def check_clock(clock: object) -> Clock:
    """``clock`` if it has what the emulator calls, else a ValueError saying what is missing."""
    missing = [
        name
        for name in ("time", "wait_hint", "subscribe")
        if not callable(getattr(clock, name, None))
    ]
    if missing:
        raise ValueError(
            f"clock must provide time(), wait_hint() and subscribe() (see ManualClock); "
            f"{type(clock).__name__} lacks {', '.join(missing)}"
        )
    return clock  # type: ignore[return-value]
