"""`ner-app` / `python -m ner_app`: serve the app with Streamlit (extra arguments pass through)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path


def exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM outside the server's own handling: exit cleanly.

    The server (uvicorn) handles SIGTERM while it runs; once it has shut down it restores the
    handler it found and raises the signal again. Without this one that is the default
    action, which a container's PID 1 does not have: natively the signal is ignored and the
    process ends anyway, but under QEMU user emulation (linux/arm64 on an amd64 host) the
    process hung there. Before the server starts, the same default left a starting container
    deaf to `docker stop` until it was killed."""
    raise SystemExit(0)


def main() -> None:
    from streamlit.web import cli

    signal.signal(signal.SIGTERM, exit_on_sigterm)
    server = Path(__file__).with_name("server.py")
    sys.argv = ["streamlit", "run", str(server), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
