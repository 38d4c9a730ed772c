"""How the build tools talk to the user: steps, warnings, and errors as exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ner_build.errors import ToolError


def step(message: str) -> None:
    """One line saying what happens next."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def warn(title: str, lines: list[str]) -> None:
    """A warning meant to be seen: framed, on stderr."""
    rule = "!" * 78
    body = "\n".join(f"!! {line}" for line in lines)
    print(f"\n{rule}\n!! WARNING: {title}\n{body}\n{rule}\n", file=sys.stderr, flush=True)


def run_main(action: Callable[[], int | None]) -> int:
    """Run a command's body; a ToolError becomes `error: MESSAGE` and its exit code."""
    try:
        return action() or 0
    except ToolError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
