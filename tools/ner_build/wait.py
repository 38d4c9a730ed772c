"""Waiting for a condition: polled, with a deadline, never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL = 0.05  # seconds between two checks


def until(check: Callable[[], bool], timeout: float, poll: float = POLL) -> bool:
    """Whether check() turned true within timeout seconds (checked every poll seconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True
