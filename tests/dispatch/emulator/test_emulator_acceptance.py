"""Acceptance findings on the Emulator's public API: bad arguments fail at once."""

from __future__ import annotations

import math
import threading

import pytest


def _returns_within(seconds: float, call) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised, failing the test if it hangs."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed back to the test, which judges it
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the call did not return within {seconds}s"
    return outcome[0]


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -math.inf, "1", None, True])
def test_wait_for_deliveries_refuses_a_timeout_that_is_not_a_finite_number(emulator, timeout):
    # A NaN timeout used to wait forever: the test run hung instead of failing.
    error = _returns_within(5, lambda: emulator.wait_for_deliveries(1, timeout=timeout))
    assert isinstance(error, ValueError), error
    assert "timeout" in str(error)


@pytest.mark.parametrize("count", [True, 1.5, "1", None, -1])
def test_wait_for_deliveries_refuses_a_count_that_is_not_a_non_negative_int(emulator, count):
    error = _returns_within(5, lambda: emulator.wait_for_deliveries(count, timeout=0.05))
    assert isinstance(error, ValueError), error
    assert "count" in str(error)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, "1", None, True])
def test_wait_idle_refuses_a_timeout_that_is_not_a_finite_number(emulator, timeout):
    error = _returns_within(5, lambda: emulator.wait_idle(timeout=timeout))
    assert isinstance(error, ValueError), error
    assert "timeout" in str(error)


def test_a_zero_count_and_a_negative_timeout_still_answer_at_once(emulator):
    assert emulator.wait_for_deliveries(0, timeout=0) == []
    with pytest.raises(TimeoutError, match="0 of 1 expected deliveries"):
        emulator.wait_for_deliveries(1, timeout=-1)
