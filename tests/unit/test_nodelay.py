"""TCP_NODELAY reaches the connections a listening socket accepts (Linux copies it)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ner_app.nodelay import set_on_listeners


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket made as Streamlit's server makes its own: proto 0."""
    with socket.socket(family=socket.AF_INET) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def accepted_nodelay(listener: socket.socket) -> int:
    with socket.create_connection(listener.getsockname()) as _client:
        accepted, _ = listener.accept()
        with accepted:
            return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_without_it_accepted_connections_keep_nagle(listener: socket.socket) -> None:
    """The control: what asyncio leaves when the listener's proto is 0."""
    assert listener.proto == 0
    assert accepted_nodelay(listener) == 0


def test_accepted_connections_get_nodelay(listener: socket.socket) -> None:
    assert set_on_listeners() >= 1
    assert accepted_nodelay(listener) == 1


def test_connected_and_unbound_sockets_are_left_alone(listener: socket.socket) -> None:
    with socket.socket() as idle, socket.create_connection(listener.getsockname()) as client:
        set_on_listeners()
        assert idle.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
