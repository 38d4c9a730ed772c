"""Network namespaces: a private one with nothing but a loopback, or one a process already has.

A namespace here is an open file of /proc/.../ns/net, so it lives exactly as long as this
process holds it: nothing is left behind when a run is killed. Code runs in one by `call`
(on a thread of its own that joined it: a socket made there stays in it), and a program by
`command` (nsenter). Making or joining one needs root (CAP_SYS_ADMIN).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ner_build import process
from ner_build.errors import CheckFailed

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NEEDS = (
    "A private network namespace needs root (CAP_SYS_ADMIN), nsenter (util-linux), ip "
    "(iproute2) and iptables: run as root on a host provisioned by tools/provision-debian."
)


def _libc_call(name: str, *args: int) -> None:
    result = getattr(ctypes.CDLL(None, use_errno=True), name)(*args)
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}: {os.strerror(errno)}")


def _join(fd: int) -> None:
    """Move the calling thread into the network namespace fd refers to."""
    setns = getattr(os, "setns", None)  # Python >= 3.12
    if setns is not None:
        setns(fd, CLONE_NEWNET)
    else:
        _libc_call("setns", fd, CLONE_NEWNET)


def _on_thread(action: Callable[[], T]) -> T:
    """action() run on a new thread (whose namespaces action may change); its result or error."""
    outcome: dict[str, T | BaseException] = {}

    def target() -> None:
        try:
            outcome["result"] = action()
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error

    thread = threading.Thread(target=target, name="ner-netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


@dataclass(frozen=True)
class NetworkNamespace:
    """An open /proc/.../ns/net file: the namespace, held while the file is open."""

    fd: int

    @property
    def path(self) -> str:
        """A path naming the namespace to other programs (nsenter --net=PATH)."""
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    def call(self, action: Callable[[], T]) -> T:
        """action() run inside the namespace (on a thread that joined it)."""

        def joined() -> T:
            _join(self.fd)
            return action()

        return _on_thread(joined)

    def command(self, args: list[str]) -> list[str]:
        """A command line that runs args inside the namespace."""
        return ["nsenter", f"--net={self.path}", "--", *args]

    def close(self) -> None:
        os.close(self.fd)


def check_possible() -> None:
    """CheckFailed saying what is missing, where a private namespace cannot be made."""
    tools = [shutil.which(name) for name in ("nsenter", "ip", "iptables")]
    if os.geteuid() != 0 or not all(tools):
        raise CheckFailed(NEEDS)


@contextmanager
def of_process(pid: int) -> Iterator[NetworkNamespace]:
    """The network namespace a process is in (this one's: os.getpid())."""
    namespace = NetworkNamespace(os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC))
    try:
        yield namespace
    finally:
        namespace.close()


def _unshare_with(setup: Callable[[], None]) -> NetworkNamespace:
    def make() -> NetworkNamespace:
        _libc_call("unshare", CLONE_NEWNET)  # only this thread moves
        namespace = NetworkNamespace(
            os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        )
        setup()  # processes started from this thread start inside
        return namespace

    return _on_thread(make)


def _loopback_only() -> None:
    process.run(["ip", "link", "set", "lo", "up"], hint=NEEDS)
    # IPv4 only: a browser then reaches "localhost" at 127.0.0.1, where the bridge listens.
    # (/proc/sys/net shows the namespace of the thread that opens it.)
    Path("/proc/sys/net/ipv6/conf/lo/disable_ipv6").write_text("1\n")


@contextmanager
def private() -> Iterator[NetworkNamespace]:
    """A new network namespace with only a loopback interface (IPv4), closed afterwards."""
    check_possible()
    namespace = _unshare_with(_loopback_only)
    try:
        yield namespace
    finally:
        namespace.close()
