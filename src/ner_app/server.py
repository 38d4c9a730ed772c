"""The ASGI app: the Streamlit page plus a readiness route, with the pipeline preloaded.

`/_stcore/health` (Streamlit's) says the server is alive; `/readyz` says 200 only once the
pipeline has loaded, and 503 with the reason while it loads or when it cannot load.
Streamlit serves its own routes under the base URL path (`server.baseUrlPath`) but leaves an
app's routes at the root, and answers any other path under the prefix with its page (200):
so `/readyz` is routed at the root and under the prefix, where a proxy's probe may look.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ner_app import api, metrics, nodelay
from ner_app.healthcheck import as_prefix
from ner_app.readiness import Readiness
from ner_app.settings import Settings, SettingsError

PRELOAD_THREAD = "pipeline-preload"
readiness = Readiness()


class _NotFromPreload(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning, expected from the preload thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != PRELOAD_THREAD


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
    _NotFromPreload()
)


def drain_on_sigterm(seconds: float, state: Readiness = readiness) -> None:
    """On SIGTERM, stop being ready at once but keep serving for `seconds` (the load balancer
    sends no new sessions, open ones finish), then stop as the server's own handler does. A
    second SIGTERM stops at once. Must run in the main thread, after the server's handler."""
    stop = signal.getsignal(signal.SIGTERM)
    if seconds <= 0 or not callable(stop):
        return

    def on_sigterm(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, stop)
        state.drain()
        logging.getLogger(__name__).warning("SIGTERM: draining for %g s, then stopping", seconds)
        threading.Timer(seconds, stop, args=(signum, None)).start()

    signal.signal(signal.SIGTERM, on_sigterm)


def drain_seconds() -> int:
    try:
        return Settings.from_env().drain_seconds
    except SettingsError:
        return 0  # the page and /readyz report the bad setting


@asynccontextmanager
async def preload(_app: object) -> AsyncIterator[None]:
    """Start loading the pipeline as the server starts, without delaying liveness; drain on
    SIGTERM when NER_DRAIN_SECONDS says so."""
    nodelay.set_on_listeners()  # the socket is bound; nothing is accepted before startup ends
    threading.Thread(target=readiness.load, name=PRELOAD_THREAD, daemon=True).start()
    if threading.current_thread() is threading.main_thread():
        drain_on_sigterm(drain_seconds())
    yield


async def ready(_request: Request) -> JSONResponse:
    status, body = readiness.report()
    return JSONResponse(body, status_code=status)


def readiness_routes(base_url_path: str) -> list[Route]:
    """`/readyz`, and `/PREFIX/readyz` too when Streamlit serves under a base URL path."""
    prefix = as_prefix(base_url_path)
    paths = ["/readyz", f"{prefix}/readyz"] if prefix else ["/readyz"]
    return [Route(path, ready) for path in paths]


BASE_URL_PATH = str(st.get_option("server.baseUrlPath") or "")
app = st.App(
    Path(__file__).with_name("app.py"),
    lifespan=preload,
    routes=[
        *readiness_routes(BASE_URL_PATH),
        *api.routes(readiness, as_prefix(BASE_URL_PATH)),
        *metrics.routes(as_prefix(BASE_URL_PATH)),
    ],
)
