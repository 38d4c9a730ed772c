"""HAProxy's runtime API, asked through the load balancer's own python3: which servers of the
`app` backend are up, and at which address."""

from __future__ import annotations

from collections.abc import Sequence

from ner_build.engine.docker import Docker

RUNTIME_API = (
    "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/tmp/haproxy.sock'); "
    "s.sendall(b'show servers state app\\n'); print(s.makefile().read())"
)


def servers_state(docker: Docker, lb_container: str) -> list[list[str]]:
    """HAProxy's `show servers state app` rows (from its runtime API, through the LB's python3)."""
    result = docker.run("exec", lb_container, "python3", "-c", RUNTIME_API)
    rows = [line.split() for line in result.stdout.splitlines()] if result.returncode == 0 else []
    return [row for row in rows if len(row) > 6 and row[0].isdigit()]


def up_servers(rows: Sequence[Sequence[str]]) -> list[str]:
    """The servers running (op state 2) with an address: the replicas HAProxy sends to."""
    return sorted(row[3] for row in rows if row[4] not in ("-", "0.0.0.0") and row[5] == "2")  # noqa: S104


def servers_up(docker: Docker, lb_container: str) -> list[str]:
    return up_servers(servers_state(docker, lb_container))
