"""The cause of the browser tests' time-outs, and the isolation that removes it.

Chromium drops every request still waiting for a connection with net::ERR_NETWORK_CHANGED when
an IPv4 address appears on a network interface of its host: what a container engine does when
it makes a network (Compose's project network, Podman's first container on a fresh host). A page
of Streamlit's asks for more scripts at once than Chromium opens connections to one server (6),
so such a change while a page loads leaves it without a script, and without its text area.

Here a private namespace stands for the engine's host: a server in it holds 24 requests while
an address appears there. Chromium started inside that namespace (the control) loses the
queued ones; Chromium in a namespace of its own, bridged to that host's loopback
(ner_build.browser.chromium), gets all 24.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from ner_build import process, wait
from ner_build.browser import chromium, loopback, netns
from ner_build.browser.netns import NetworkNamespace
from playwright.sync_api import Browser, Page, Playwright

BATCH = 24  # fetches at once: more than Chromium's 6 connections to one server
HOLD_S = 0.2  # how long the server takes to answer one: the page keeps connecting meanwhile
WAIT_S = 30
# Batches of fetches of /held/NAME until window.stop is set; each outcome "ok" or the error.
FETCH_UNTIL_STOPPED = """([name, count]) => {
  window.stop = false;
  window.outcomes = (async () => {
    const outcomes = [];
    while (!window.stop) {
      const batch = [...Array(count).keys()].map((i) => fetch(`/held/${name}?${i}`)
        .then((r) => r.text()).then(() => "ok", (e) => String(e)));
      outcomes.push(...await Promise.all(batch));
    }
    return outcomes;
  })();
}"""
CHANGED = "net::ERR_NETWORK_CHANGED"


class HeldServer(http.server.ThreadingHTTPServer):
    """Answers / at once, /held/NAME after HOLD_S (closing the connection), and counts the
    requests of each NAME."""

    daemon_threads = True

    def __init__(self, listener: socket.socket) -> None:
        super().__init__(listener.getsockname(), Handler, bind_and_activate=False)
        self.socket = listener
        self.arrived: Counter[str] = Counter()

    def handle_error(self, request: object, client_address: object) -> None:
        """A request the browser gave up on is what this test provokes: not an error."""


class Handler(http.server.BaseHTTPRequestHandler):
    server: HeldServer

    def do_GET(self) -> None:
        if self.path.startswith("/held/"):
            self.server.arrived[self.path.split("/")[2].split("?")[0]] += 1
            time.sleep(HOLD_S)
        body = b"<title>held</title>ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@pytest.fixture
def host() -> Iterator[NetworkNamespace]:
    """A namespace standing for the engine's host, with only a loopback."""
    with netns.private() as namespace:
        yield namespace


@pytest.fixture
def server(host: NetworkNamespace) -> Iterator[HeldServer]:
    served = HeldServer(host.call(listener))
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


@contextmanager
def inside(playwright: Playwright, host: NetworkNamespace) -> Iterator[Browser]:
    """The control: Chromium started in the host's own namespace, as it ran before."""
    with chromium.private_folder() as folder:
        wrapper = folder / "chromium-in-host"
        wrapper.write_text(
            f'#!/bin/sh\nexec {" ".join(host.command([chromium.chromium_path()]))} "$@"\n'
        )
        wrapper.chmod(0o755)
        env = chromium.environment(folder)
        browser = playwright.chromium.launch(
            executable_path=str(wrapper), args=chromium.ARGS, env=env
        )
        try:
            yield browser
        finally:
            browser.close()


def add_an_address(host: NetworkNamespace) -> None:
    """What an engine does when it makes a network: a new interface with an IPv4 address."""
    for args in (
        ["ip", "link", "add", "ner-br", "type", "veth", "peer", "name", "ner-br-peer"],
        ["ip", "address", "add", "10.254.0.1/24", "dev", "ner-br"],
        ["ip", "link", "set", "ner-br", "up"],
        ["ip", "link", "set", "ner-br-peer", "up"],
    ):
        process.run(host.command(args))


def outcomes(page: Page) -> list[str]:
    """Stop the page's fetching; the outcome of every fetch it made."""
    page.evaluate("window.stop = true")
    return list(page.evaluate("window.outcomes"))


def wait_until(what: str, check: Callable[[], bool]) -> None:
    if not wait.until(check, WAIT_S, poll=0.02):
        pytest.fail(f"timed out after {WAIT_S} s waiting until {what}")


def test_an_address_on_the_host_drops_the_control_browsers_requests_not_the_isolated_ones(
    playwright: Playwright, host: NetworkNamespace, server: HeldServer
) -> None:
    address = f"http://127.0.0.1:{server.server_address[1]}/"
    with inside(playwright, host) as control, chromium.launch(playwright, reach=host) as isolated:
        pages = {"control": control.new_page(), "isolated": isolated.new_page()}
        for name, page in pages.items():
            page.goto(address)
            page.evaluate(FETCH_UNTIL_STOPPED, [name, BATCH])
        wait_until("both pages fetch", lambda: min(server.arrived.values(), default=0) >= BATCH)
        dropped = pages["control"].expect_event(
            "requestfailed", lambda request: request.failure == CHANGED, timeout=WAIT_S * 1000
        )
        with dropped as failure:  # the control's requests, dropped when the address appears
            add_an_address(host)
            before = server.arrived["isolated"]
        wait_until(
            "the isolated page fetched a batch more since",
            lambda: server.arrived["isolated"] >= before + BATCH,
        )
        results = {name: outcomes(page) for name, page in pages.items()}
    assert failure.value.failure == CHANGED
    assert "TypeError: Failed to fetch" in results["control"]
    assert set(results["isolated"]) == {"ok"}


def echo_once(listening: socket.socket) -> None:
    connection, _ = listening.accept()
    with connection:
        connection.sendall(connection.recv(1024).upper())


def test_the_bridge_joins_any_loopback_port_inside_to_the_same_port_outside(
    host: NetworkNamespace,
) -> None:
    """No port is configured: a connection to whatever loopback port reaches that port of the
    outer namespace, and a port nobody serves there is refused and recorded."""
    listening = host.call(listener)
    port = listening.getsockname()[1]
    threading.Thread(target=echo_once, args=(listening,), daemon=True).start()
    with netns.private() as inner, loopback.bridged(inner, host) as bridge:

        def exchange() -> bytes:
            with socket.create_connection(("localhost", port), timeout=WAIT_S) as connection:
                connection.sendall(b"through the bridge")
                return connection.recv(1024)

        assert inner.call(exchange) == b"THROUGH THE BRIDGE"

        def refused() -> bytes:
            with socket.create_connection(("127.0.0.1", 9), timeout=WAIT_S) as connection:
                return connection.recv(1024)

        assert inner.call(refused) == b""  # the bridge closes what it cannot join
    assert bridge.joined == 1
    assert bridge.refused == ["127.0.0.1:9: Connection refused"]
    listening.close()
