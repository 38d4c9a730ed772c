"""Debian's Chromium, as the integration tests and the bench drive it through Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "chromium")
# Headless as root in a sandbox, with no calls home: this machine's network is closed.
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


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
