"""`python -m ner_app.healthcheck [PATH]`: exit 0 when the local server answers 200 on PATH.

Used by the image's HEALTHCHECK, so the image needs no curl. PATH defaults to Streamlit's
liveness endpoint, which moves under the base URL path (`STREAMLIT_SERVER_BASE_URL_PATH`)
when one is set; pass /readyz to check readiness instead (answered at the root and under
the base URL path).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

LIVENESS = "/_stcore/health"


def as_prefix(base_url_path: str) -> str:
    """Streamlit's base URL path as a route prefix: "" or "/ner" (slashes trimmed, as Streamlit)."""
    trimmed = base_url_path.strip().strip("/")
    return f"/{trimmed}" if trimmed else ""


def base_path(env: Mapping[str, str] = os.environ) -> str:
    """The prefix that `STREAMLIT_SERVER_BASE_URL_PATH` sets."""
    return as_prefix(env.get("STREAMLIT_SERVER_BASE_URL_PATH", ""))


def probe(path: str | None = None, port: int | None = None, timeout: float = 3.0) -> bool:
    """True when http://127.0.0.1:PORT/PATH answers 200 (PATH: the liveness endpoint)."""
    path = path or base_path() + LIVENESS
    port = port or int(os.environ.get("STREAMLIT_SERVER_PORT", "8501"))
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str]) -> int:
    healthy = probe(argv[0]) if argv else probe()
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
