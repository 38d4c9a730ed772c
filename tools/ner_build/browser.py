"""Debian's Chromium, as the integration tests and the bench drive it through Playwright."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
def launch(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with its own short HOME and TMPDIR, closed and cleaned up afterwards."""
    with private_folder() as folder:
        env = environment(folder)
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=ARGS, env=env)
        try:
            yield browser
        finally:
            browser.close()
