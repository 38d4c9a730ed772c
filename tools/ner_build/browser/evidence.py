"""What a failing test leaves behind to tell why: one folder per test under build/failures/.

Each pytest run has a folder of its own, named by NER_EVIDENCE_LABEL (integration, engine-podman,
loop-default...). In it, a failing browser test's folder holds, for each browser context it
opened, Playwright's trace (trace.zip: `playwright show-trace` replays it with DOM snapshots,
console and network, as pytest-playwright records it), a screenshot and the HTML of each page,
the browser console with page errors, the requests the browser gave up on with their error
(e.g. `net::ERR_NETWORK_CHANGED`) and its WebSockets' lives; a container test's folder holds
each involved container's log and `inspect`. A failing `nox -s scale` scenario keeps the same
for each failed browser session and every container of the deployment. The test command names
the folders at the end of its run (`report`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ner_build.engine.docker import Docker
from ner_build.paths import BUILD

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Request, WebSocket

EVIDENCE = BUILD / "failures"
LOG_TAIL = 2000  # lines of a container's log kept
MAX_NAME = 120  # characters of a test's folder name: paths stay short under a deep checkout
LABEL = "NER_EVIDENCE_LABEL"  # names a pytest run's folder


def labelled(env: Mapping[str, str], label: str) -> dict[str, str]:
    """env for a pytest run that keeps its evidence in build/failures/LABEL/ (engine-podman...)."""
    return {**env, LABEL: label}


def run_folder(env: Mapping[str, str] = os.environ) -> Path:
    """This pytest run's folder: NER_EVIDENCE (a whole path) or build/failures/LABEL."""
    if env.get("NER_EVIDENCE"):
        return Path(env["NER_EVIDENCE"])
    return EVIDENCE / (env.get(LABEL) or "integration")


def folder_of(nodeid: str, env: Mapping[str, str] = os.environ) -> Path:
    """A test's folder in its run's, named for the test: test_browser.py-test_x-a-b."""
    path, _, test = nodeid.partition("::")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{Path(path).name}::{test}").strip("-")
    return run_folder(env) / name[:MAX_NAME]


def clear() -> None:
    """Remove the evidence of an earlier run (at the start of a run)."""
    shutil.rmtree(EVIDENCE, ignore_errors=True)


def report() -> list[str]:
    """Lines naming every folder with evidence in it (none when nothing failed)."""
    root = EVIDENCE
    folders = sorted({path.parent for path in root.rglob("*") if path.is_file()})
    if not folders:
        return []
    return [
        f"Evidence of what failed is kept in {root} ({len(folders)} folder(s)):",
        *(
            f"  {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}"
            for folder in folders
        ),
    ]


@dataclass
class BrowserLog:
    """The console messages, page errors and failed requests of a browser context, with the
    seconds since it was made."""

    started: float = field(default_factory=time.monotonic)
    console: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)

    def watch(self, context: Any) -> None:
        """Record what every page of a browser context (Playwright's sync or async API) says,
        gives up on, and does with its WebSockets, from now on."""
        context.on("console", self._on_console)
        context.on("weberror", lambda error: self._note(self.console, f"page error: {error.error}"))
        context.on("requestfailed", self._on_request_failed)
        context.on("page", lambda page: page.on("websocket", self._on_websocket))

    def _note(self, lines: list[str], line: str) -> None:
        lines.append(f"{time.monotonic() - self.started:8.3f}s {line}")

    def _on_console(self, message: ConsoleMessage) -> None:
        self._note(self.console, f"{message.type}: {message.text}")

    def _on_request_failed(self, request: Request) -> None:
        self._note(self.failed_requests, f"{request.failure} {request.method} {request.url}")

    def _on_websocket(self, socket: WebSocket) -> None:
        """Streamlit's whole session runs over one WebSocket: its opening, errors and close."""
        self._note(self.websockets, f"opened {socket.url}")
        socket.on("socketerror", lambda error: self._note(self.websockets, f"error: {error}"))
        socket.on("close", lambda _: self._note(self.websockets, f"closed {socket.url}"))

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "console.txt").write_text("\n".join(self.console) + "\n")
        (folder / "failed-requests.txt").write_text("\n".join(self.failed_requests) + "\n")
        (folder / "websockets.txt").write_text("\n".join(self.websockets) + "\n")


def keep_browser(context: BrowserContext, log: BrowserLog, folder: Path) -> None:
    """A browser context's trace (its tracing started), a screenshot and the HTML of each of
    its pages, and its log."""
    from playwright.sync_api import Error as PlaywrightError  # script/up imports this module

    folder.mkdir(parents=True, exist_ok=True)
    log.write(folder)
    for number, page in enumerate(context.pages, 1):
        try:
            page.screenshot(path=folder / f"screenshot-{number}.png", full_page=True, timeout=5000)
            html = page.content()
        except PlaywrightError as error:  # a crashed page says so instead of hiding the rest
            html = f"<!-- the page could not be read: {error} -->"
        (folder / f"page-{number}.html").write_text(f"<!-- {page.url} -->\n{html}")
    context.tracing.stop(path=folder / "trace.zip")


def keep_container(docker: Docker, container: str, folder: Path) -> None:
    """A container's log (last LOG_TAIL lines, with times) and `inspect`, by its name or ID."""
    folder.mkdir(parents=True, exist_ok=True)
    name = container[:12] if re.fullmatch(r"[0-9a-f]{64}", container) else container
    logs = docker.run("logs", "--timestamps", f"--tail={LOG_TAIL}", container)
    (folder / f"{name}.log").write_text(logs.stdout + logs.stderr)
    inspect = docker.run("container", "inspect", container)
    text = inspect.stdout if not inspect.returncode else json.dumps({"error": inspect.stderr})
    (folder / f"{name}.inspect.json").write_text(text)
