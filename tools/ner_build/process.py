"""Running commands: the one place the build tools start a process."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ner_build.errors import CheckFailed, FailedProcessError

Arg = str | Path
STOP_TIMEOUT = 10.0  # seconds a background command gets to end after SIGTERM


def run(
    args: Sequence[Arg],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    check: bool = True,
    hint: str = "",
    missing: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output; when check, a non-zero exit raises
    FailedProcessError carrying the command, its output and the hint. A program that does not
    exist raises CheckFailed with the `missing` hint (what to install or set)."""
    command = [str(arg) for arg in args]
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            env=_environment(env),
            input=input_text,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise _not_found(command, missing or hint) from None
    if check and result.returncode:
        output = result.stdout + result.stderr
        raise FailedProcessError(command, result.returncode, output, hint)
    return result


def stream(
    args: Sequence[Arg],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    hint: str = "",
    missing: str = "",
) -> None:
    """Run a command whose output goes straight to the terminal (builds, pushes, apt)."""
    command = [str(arg) for arg in args]
    print(f"$ {shlex.join(command)}", file=sys.stderr, flush=True)
    try:
        returncode = subprocess.run(command, cwd=cwd, env=_environment(env), check=False).returncode
    except FileNotFoundError:
        raise _not_found(command, missing or hint) from None
    if returncode:
        raise FailedProcessError(command, returncode, hint=hint)


def start(
    args: Sequence[Arg],
    *,
    log: IO[bytes] | None = None,
    new_session: bool = False,
    missing: str = "",
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running command (a server, an engine) and return at once; its output goes
    to log, or nowhere; env adds to this process's environment. The caller stops it (or uses
    `background`)."""
    command = [str(arg) for arg in args]
    target = subprocess.DEVNULL if log is None else log
    try:
        return subprocess.Popen(
            command,
            stdout=target,
            stderr=target,
            start_new_session=new_session,
            env=_environment(env),
        )
    except FileNotFoundError:
        raise _not_found(command, missing) from None


@contextmanager
def background(
    args: Sequence[Arg], *, log: IO[bytes] | None = None, missing: str = ""
) -> Iterator[subprocess.Popen[bytes]]:
    """A command running beside the block (its output to log, or discarded), stopped afterwards."""
    started = start(args, log=log, missing=missing)
    try:
        yield started
    finally:
        started.terminate()
        try:
            started.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            started.kill()
            started.wait()


def output(args: Sequence[Arg], *, cwd: Path | None = None, hint: str = "") -> str:
    """The stripped standard output of a command that must succeed."""
    return run(args, cwd=cwd, hint=hint).stdout.strip()


def output_bytes(args: Sequence[Arg], *, cwd: Path | None = None) -> bytes | None:
    """The standard output of a command, byte for byte; None when it fails."""
    command = [str(arg) for arg in args]
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise _not_found(command, "") from None
    return None if result.returncode else result.stdout


def _not_found(command: list[str], hint: str) -> CheckFailed:
    return CheckFailed(f"{command[0]!r} was not found. {hint}".rstrip())


def _environment(extra: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if extra is None else {**os.environ, **extra}
