"""`python -m ner_app.healthcheck [PATH]`: exit 0 when the local server answers 200 on PATH.

Used by the image's HEALTHCHECK, so the image needs no curl. PATH defaults to Streamlit's
liveness endpoint; pass /readyz to check readiness instead.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe(path: str = "/_stcore/health", port: int | None = None, timeout: float = 3.0) -> bool:
    """True when http://127.0.0.1:PORT/PATH answers 200."""
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
