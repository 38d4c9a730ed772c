"""`ner-app` / `python -m ner_app`: serve the app with Streamlit (extra arguments pass through)."""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    from streamlit.web import cli

    server = Path(__file__).with_name("server.py")
    sys.argv = ["streamlit", "run", str(server), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
