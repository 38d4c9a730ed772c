"""The ASGI app: the Streamlit page plus a readiness route, with the pipeline preloaded.

`/_stcore/health` (Streamlit's) says the server is alive; `/readyz` says 200 only once the
pipeline has loaded, and 503 with the reason while it loads or when it cannot load.
Streamlit serves its own routes under the base URL path (`server.baseUrlPath`) but leaves an
app's routes at the root, and answers any other path under the prefix with its page (200):
so `/readyz` is routed at the root and under the prefix, where a proxy's probe may look.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ner_app.healthcheck import as_prefix
from ner_app.readiness import Readiness

PRELOAD_THREAD = "pipeline-preload"
readiness = Readiness()


class _NotFromPreload(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning, expected from the preload thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != PRELOAD_THREAD


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
    _NotFromPreload()
)


@asynccontextmanager
async def preload(_app: object) -> AsyncIterator[None]:
    """Start loading the pipeline as the server starts, without delaying liveness."""
    threading.Thread(target=readiness.load, name=PRELOAD_THREAD, daemon=True).start()
    yield


async def ready(_request: Request) -> JSONResponse:
    status, body = readiness.report()
    return JSONResponse(body, status_code=status)


def readiness_routes(base_url_path: str) -> list[Route]:
    """`/readyz`, and `/PREFIX/readyz` too when Streamlit serves under a base URL path."""
    prefix = as_prefix(base_url_path)
    paths = ["/readyz", f"{prefix}/readyz"] if prefix else ["/readyz"]
    return [Route(path, ready) for path in paths]


app = st.App(
    Path(__file__).with_name("app.py"),
    lifespan=preload,
    routes=readiness_routes(str(st.get_option("server.baseUrlPath") or "")),
)
