"""A bridge between two network namespaces' loopbacks, for a browser kept in a namespace of its own.

Inside `inner`, an iptables rule sends every TCP connection made to a loopback address to one
listener; the bridge reads where the connection was going (SO_ORIGINAL_DST) and joins it to the
same address and port on the loopback of `outer`. So a browser inside reaches
http://localhost:PORT of the host (or of an engine's namespace) at the very address a user's
browser would use, while no network interface of that host is visible to it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from ner_build import process
from ner_build.browser.netns import NEEDS, NetworkNamespace

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h
CHUNK = 1 << 16
STOP_TIMEOUT = 10.0


def original_destination(connection: socket.socket) -> tuple[str, int]:
    """Where a redirected IPv4 connection was going: (address, port)."""
    raw = connection.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, address = struct.unpack_from("!H4s", raw, 2)
    return socket.inet_ntoa(address), port


def _listener() -> socket.socket:
    """A listening socket on a free loopback port (in the namespace of the calling thread)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.setblocking(False)
    return listener


def _redirect_all_to(port: int) -> None:
    """Every TCP connection to a loopback address goes to 127.0.0.1:port instead."""
    rule = ["-p", "tcp", "-o", "lo", "!", "--dport", str(port)]
    process.run(
        ["iptables", "-t", "nat", "-A", "OUTPUT", *rule, "-j", "REDIRECT", f"--to-ports={port}"],
        hint=NEEDS,
    )


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until the end of the stream, then pass the end on."""
    with suppress(ConnectionError, OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


class LoopbackBridge:
    """Joins connections to loopback addresses inside `inner` to the same ones in `outer`."""

    def __init__(self, inner: NetworkNamespace, outer: NetworkNamespace) -> None:
        self.inner, self.outer = inner, outer
        self.loop = asyncio.new_event_loop()
        self.joined = 0  # connections joined so far
        self.refused: list[str] = []  # "ADDRESS:PORT: error" of connections outer refused
        self._listener = inner.call(_listener)
        self.port = self._listener.getsockname()[1]
        inner.call(lambda: _redirect_all_to(self.port))
        self._thread = threading.Thread(target=self.loop.run_forever, name="ner-loopback")
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._join, sock=self._listener), self.loop
        )
        self._server = server.result(STOP_TIMEOUT)

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            joins = asyncio.all_tasks() - {asyncio.current_task()}
            for task in joins:
                task.cancel()
            await asyncio.gather(*joins, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(STOP_TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(STOP_TIMEOUT)
        self.loop.close()

    async def _join(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address, port = original_destination(writer.get_extra_info("socket"))
        try:
            outer_reader, outer_writer = await self._connect(address, port)
        except OSError as error:
            reason = os.strerror(error.errno) if error.errno else str(error)
            self.refused.append(f"{address}:{port}: {reason}")
            writer.close()
            return
        self.joined += 1
        await asyncio.gather(_pump(reader, outer_writer), _pump(outer_reader, writer))
        for stream in (writer, outer_writer):
            stream.close()

    async def _connect(
        self, address: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to address:port made in the outer namespace."""
        sock = self.outer.call(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.setblocking(False)
        try:
            await self.loop.sock_connect(sock, (address, port))
        except OSError:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)


@contextmanager
def bridged(inner: NetworkNamespace, outer: NetworkNamespace) -> Iterator[LoopbackBridge]:
    """A running LoopbackBridge from inner to outer, stopped afterwards."""
    bridge = LoopbackBridge(inner, outer)
    bridge.start()
    try:
        yield bridge
    finally:
        bridge.stop()
