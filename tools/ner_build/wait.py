"""Waiting for a condition: polled, with a deadline, never a bare sleep. The one wait helper."""

from __future__ import annotations

import time
from collections.abc import Callable

from ner_build.errors import CheckFailed

POLL = 0.05  # seconds between two checks


def until(
    check: Callable[[], bool],
    timeout: float,
    poll: float = POLL,
    alive: Callable[[], bool] = lambda: True,
) -> bool:
    """Whether check() turned true within timeout seconds (checked every poll seconds); False
    at once when alive() turns false (the process that should make it true has ended)."""
    deadline = time.monotonic() + timeout
    while not check():
        if not alive() or time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def seconds_until(
    check: Callable[[], bool], timeout: float, what: str, poll: float = POLL
) -> float:
    """Seconds until check() held (to 0.01 s); CheckFailed naming what did not happen in time."""
    started = time.monotonic()
    if not until(check, timeout, poll):
        raise CheckFailed(f"Timed out after {timeout:.0f} s waiting for {what}.")
    return round(time.monotonic() - started, 2)
