"""`python -m ner_app`'s SIGTERM handler: a clean exit wherever the server does not handle it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ner_app.__main__ import exit_on_sigterm

SRC = Path(__file__).resolve().parents[2] / "src"
# A process that installs the handler as main() does, then waits to be signalled.
WAITER = """
import signal, sys, time
from ner_app.__main__ import exit_on_sigterm
if sys.argv[1] == "handled":
    signal.signal(signal.SIGTERM, exit_on_sigterm)
print("ready", flush=True)
time.sleep(60)
"""


def test_the_handler_exits_with_status_zero() -> None:
    with pytest.raises(SystemExit) as stopped:
        exit_on_sigterm(signal.SIGTERM, None)
    assert stopped.value.code == 0


@pytest.mark.parametrize(("mode", "status"), [("handled", 0), ("default", -signal.SIGTERM)])
def test_sigterm_ends_the_process_cleanly_only_with_the_handler(mode: str, status: int) -> None:
    """The control (no handler) dies of the signal; with it, the process exits 0."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with subprocess.Popen(
        [sys.executable, "-c", WAITER, mode], stdout=subprocess.PIPE, text=True, env=env
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == status
