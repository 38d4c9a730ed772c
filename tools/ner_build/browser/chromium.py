"""Debian's Chromium, as the tests, the sessions and the bench drive it through Playwright.

Chromium runs in a network namespace of its own, which has nothing but a loopback, bridged to
the loopback of the host (or of the namespace given as `reach`; see loopback.py): the page
addresses stay http://localhost:PORT. Chromium drops every request waiting for a connection with
net::ERR_NETWORK_CHANGED when an address appears on a network interface of its host, as it
does when a container engine makes a network (Compose, Podman's first container); a user's
browser on another machine never sees that, and here the browser's own namespace never
changes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ner_build.browser import loopback, netns
from ner_build.browser.netns import NetworkNamespace

if TYPE_CHECKING:
    from playwright import async_api
    from playwright.sync_api import Browser, Playwright

CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "chromium")
# Headless as root in a sandbox, with no calls home: this machine's network is closed.
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
# Chromium makes a UNIX socket (SingletonSocket) under TMPDIR, and a socket path has at most
# 107 bytes: its HOME and TMPDIR go to a short private folder, wherever the checkout is.
SHORT_TMP = Path("/tmp")  # noqa: S108 (a private mkdtemp folder is made inside)


def chromium_path(env: Mapping[str, str] = os.environ) -> str:
    """CHROMIUM if set, else the first Chromium found; FileNotFoundError says how to get one."""
    configured = env.get("CHROMIUM")
    for candidate in [configured] if configured else CANDIDATES:
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found:
            return found
    raise FileNotFoundError(
        "No Chromium found: install Debian's `chromium` or set CHROMIUM to its path."
    )


@contextmanager
def private_folder() -> Iterator[Path]:
    """A fresh folder with a short path (under /tmp when writable), removed afterwards."""
    parent = SHORT_TMP if os.access(SHORT_TMP, os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="ner-chromium-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def environment(folder: Path) -> dict[str, str | float | bool]:
    """The process environment with HOME and TMPDIR in the private folder."""
    return {**os.environ, "HOME": str(folder), "TMPDIR": str(folder)}


@contextmanager
def isolated(folder: Path, reach: NetworkNamespace | None = None) -> Iterator[str]:
    """An executable (in folder) that starts Chromium in a private network namespace bridged
    to reach's loopback (default: this process's); the namespace goes when the block ends."""
    with ExitStack() as stack:
        inner = stack.enter_context(netns.private())
        outer = reach or stack.enter_context(netns.of_process(os.getpid()))
        stack.enter_context(loopback.bridged(inner, outer))
        wrapper = folder / "chromium-isolated"
        command = shlex.join(inner.command([chromium_path()]))
        wrapper.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        wrapper.chmod(0o755)
        yield str(wrapper)


@contextmanager
def launch(playwright: Playwright, reach: NetworkNamespace | None = None) -> Iterator[Browser]:
    """Chromium, isolated (see `isolated`), with its own short HOME and TMPDIR; closed and
    cleaned up afterwards."""
    with private_folder() as folder, isolated(folder, reach) as executable:
        env = environment(folder)
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS, env=env)
        try:
            yield browser
        finally:
            browser.close()


@asynccontextmanager
async def launch_async() -> AsyncIterator[async_api.Browser]:
    """Chromium as `launch` starts it, through Playwright's asynchronous API (the concurrent
    sessions), with a Playwright of its own."""
    from playwright.async_api import async_playwright

    with private_folder() as folder, isolated(folder) as executable:
        env = environment(folder)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=executable, args=ARGS, env=env
            )
            try:
                yield browser
            finally:
                await browser.close()
