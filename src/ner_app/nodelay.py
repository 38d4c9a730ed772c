"""TCP_NODELAY for the server's connections.

Streamlit's Starlette server binds its listening socket itself, as `socket.socket(family)`,
whose `proto` is 0; asyncio sets TCP_NODELAY only on transports whose socket says
IPPROTO_TCP, so it leaves Nagle's algorithm on. A response that uvicorn writes in two parts
(headers, then body) on a keep-alive connection then waits for the client's delayed ACK:
about 40 ms on Linux, for every API request but a connection's first, and for the page's
scripts. Linux copies TCP_NODELAY from a listening socket to each connection it accepts, so
setting it on this process's listening sockets, before the server accepts, is enough.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

FDS = Path("/proc/self/fd")


def _listening_tcp(fd: int) -> socket.socket | None:
    """A duplicate of fd as a socket, when fd is a listening TCP socket (else None)."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:  # not a socket, or closed meanwhile
        return None
    tcp = sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
    if tcp and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        return sock
    sock.close()
    return None


def set_on_listeners(fds: Path = FDS) -> int:
    """Set TCP_NODELAY on every listening TCP socket of this process; how many there were."""
    found = 0
    for entry in fds.iterdir() if fds.is_dir() else ():
        sock = _listening_tcp(int(entry.name))
        if sock is not None:
            with sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            found += 1
    return found
