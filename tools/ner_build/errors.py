"""What went wrong in a build tool, as types named for what happened.

Every message says what is wrong and what to do next. `console.run_main` prints it and turns it
into an exit code, so a user never sees a traceback.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

OUTPUT_TAIL = 3000  # characters of a failed command's output kept in its message


class ToolError(Exception):
    """A failure the user can act on; the message says how."""

    exit_code = 1


class CheckFailed(ToolError):
    """A check made before the work failed (stale lock, no engine, bad wheel): nothing changed."""


class Unavailable(CheckFailed):
    """A pinned input cannot be had from here (the base image's registry, the model's URL)."""


class BaseImageUnavailable(Unavailable):
    """The base image is neither in the engine nor pullable."""


class ModelUnavailable(Unavailable):
    """The pinned model cannot be downloaded."""


class VerificationFailed(ToolError):
    """A result was checked and is not what it must be (a download's hash, an image's contents)."""


class FailedProcessError(ToolError):
    """A command exited non-zero; carries the command, its exit code and its output."""

    def __init__(
        self, command: Sequence[str], returncode: int, output: str = "", hint: str = ""
    ) -> None:
        self.command = tuple(command)
        self.returncode = returncode
        self.output = output
        tail = output.strip()[-OUTPUT_TAIL:]
        message = f"`{shlex.join(self.command)}` failed with exit code {returncode}"
        message += f":\n{tail}" if tail else "; see its output above."
        super().__init__(message + (f"\n{hint}" if hint else ""))
