"""Local servers: a free port to start one on, and does its address answer 200, now or within
a time."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable

from ner_build import wait

POLL = 0.05  # seconds between two probes while waiting for the condition


def free_port() -> int:
    """A loopback TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


def failure(address: str, timeout: float = 2) -> str | None:
    """None when address answers 200 now, else what it did instead (a status, or the error)."""
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:  # noqa: S310 (ours)
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return str(getattr(error, "reason", error))


def answers(address: str) -> bool:
    """True when address answers 200 now (False while nothing listens)."""
    return failure(address) is None


def wait_until_answers(
    address: str, timeout: float, alive: Callable[[], bool] = lambda: True, poll: float = POLL
) -> bool:
    """Wait until address answers 200; False when the time runs out or alive() turns False."""
    return wait.until(lambda: answers(address), timeout, poll, alive)
