"""Watching the load balancer from outside while a scenario runs: HTTP statuses without
following redirects, samples taken in a thread, and what the samples say (when a change came,
the longest stretch of bad answers)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


# One opener for every probe (the samplers call it every 50 ms): a redirect is an answer.
NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


def http_status(url: str, timeout: float = 2.0) -> int:
    """The status an HTTP GET gets (0 when no response came), redirects not followed."""
    try:
        with NO_REDIRECTS.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return 0


def location(url: str) -> str | None:
    """The Location a redirect names, if url answers with one."""
    try:
        NO_REDIRECTS.open(url, timeout=2)
    except urllib.error.HTTPError as error:
        return error.headers.get("Location")
    return None


class Sampler:
    """Calls `probe` every `every` seconds in a thread, keeping (time, result) pairs."""

    def __init__(self, probe: Callable[[], Any], every: float) -> None:
        self.probe, self.every = probe, every
        self.samples: list[tuple[float, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            at = time.monotonic()
            self.samples.append((at, self.probe()))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def first_change(
    samples: Sequence[tuple[float, Any]], after: float, holds: Callable[[Any], bool]
) -> float | None:
    """Seconds from `after` to the first sample taken after it for which holds(value)."""
    return next(
        (round(at - after, 2) for at, value in samples if at >= after and holds(value)), None
    )


def bad_stretch(samples: Sequence[tuple[float, int]]) -> tuple[float, list[int]]:
    """The longest run of bad samples (5xx or no answer): its seconds, and the statuses seen
    in it, which tell a replica's 503 from a load balancer that did not answer (0)."""
    longest: tuple[float, list[int]] = (0.0, [])
    started, seen = None, []
    for at, status in samples:
        bad = not 200 <= status < 400
        if bad:
            started = at if started is None else started
            seen.append(status)
        elif started is not None:
            longest = max(longest, (round(at - started, 2), seen), key=lambda item: item[0])
            started, seen = None, []
    if started is not None and samples:
        longest = max(longest, (round(samples[-1][0] - started, 2), seen), key=lambda x: x[0])
    return longest
