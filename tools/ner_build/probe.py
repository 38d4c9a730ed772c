"""Waiting for a server: does an address answer 200, now or within a time."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

POLL = 0.05  # seconds between two probes while waiting for the condition


def answers(address: str) -> bool:
    """True when address answers 200 now (False while nothing listens)."""
    try:
        with urllib.request.urlopen(address, timeout=2) as response:  # noqa: S310 (our servers)
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False


def wait_until_answers(
    address: str, timeout: float, alive: Callable[[], bool] = lambda: True, poll: float = POLL
) -> bool:
    """Wait until address answers 200; False when the time runs out or alive() turns False."""
    deadline = time.monotonic() + timeout
    while not answers(address):
        if not alive() or time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True
