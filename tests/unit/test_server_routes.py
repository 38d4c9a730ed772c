"""The readiness route's paths (with and without a base URL path) and draining on SIGTERM."""

import os
import signal
import threading

import pytest

from ner_app.readiness import Readiness
from ner_app.server import drain_on_sigterm, readiness_routes


@pytest.mark.parametrize(
    ("base", "paths"),
    [("", ["/readyz"]), ("ner", ["/readyz", "/ner/readyz"]), ("/a/b/", ["/readyz", "/a/b/readyz"])],
)
def test_readyz_is_routed_at_the_root_and_under_the_prefix(base: str, paths: list[str]) -> None:
    assert [route.path for route in readiness_routes(base)] == paths


def test_sigterm_drains_then_stops_as_before() -> None:
    stopped = threading.Event()
    calls: list[int] = []

    def server_stop(signum: int, _frame: object) -> None:
        calls.append(signum)
        stopped.set()

    state = Readiness()
    previous = signal.signal(signal.SIGTERM, server_stop)
    try:
        drain_on_sigterm(0.3, state)
        assert state.report()[1]["status"] == "loading"
        os.kill(os.getpid(), signal.SIGTERM)
        assert state.report() == (503, Readiness.DRAINING)  # at once: no new sessions
        assert not stopped.is_set()  # still serving the open ones
        assert stopped.wait(5)
        assert calls == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is server_stop  # a second SIGTERM stops now
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_no_drain_leaves_the_servers_handler() -> None:
    def server_stop(_signum: int, _frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, server_stop)
    try:
        drain_on_sigterm(0)
        assert signal.getsignal(signal.SIGTERM) is server_stop
    finally:
        signal.signal(signal.SIGTERM, previous)
