"""The image under the restrictions users run it with."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.integration.conftest import (
    HARDENED,
    StartApp,
    http_get,
    python_in,
    read_in,
    run_in,
    url,
)

UID = "import os; print(os.getuid())"

NER_SNIPPET = (
    "import json, os; from ner_app.pipeline import load_pipeline; "
    "from ner_app.analysis import analyse; "
    "_, ents = analyse(load_pipeline(os.environ['NER_MODEL']), 'Grace Hopper flew to Boston.'); "
    "print(json.dumps([[e.text, e.label] for e in ents]))"
)


def test_runs_as_its_non_root_user(start_app: StartApp, docker_client: Any, image: str) -> None:
    assert docker_client.images.get(image).attrs["Config"]["User"] == "10001:0"
    container = start_app()
    assert python_in(container, UID)[1].strip() == "10001"
    status = read_in(container, "/proc/1/status")
    assert "Uid:\t10001\t10001\t10001\t10001" in status


def test_runs_as_an_arbitrary_uid_in_group_0(start_app: StartApp) -> None:
    container = start_app(user="54321:0")
    assert python_in(container, UID)[1].strip() == "54321"
    assert http_get(url(container, "/readyz"))[0] == 200


def test_runs_read_only_with_a_tmpfs_no_capabilities_and_no_new_privileges(
    start_app: StartApp,
) -> None:
    container = start_app(**HARDENED)
    assert http_get(url(container, "/readyz"))[0] == 200
    _code, output = python_in(container, "open('/opt/venv/x', 'w')")
    assert "Read-only file system" in output
    status = read_in(container, "/proc/1/status")
    assert "CapEff:\t0000000000000000" in status
    assert "NoNewPrivs:\t1" in status


def test_does_ner_with_no_network_at_all(start_app: StartApp) -> None:
    container = start_app(network_mode="none")
    interfaces = read_in(container, "/proc/net/dev")
    assert [line.split(":")[0].strip() for line in interfaces.splitlines()[2:]] == ["lo"]
    assert run_in(container, "python", "-m", "ner_app.healthcheck", "/readyz")[0] == 0
    code, output = run_in(container, "python", "-c", NER_SNIPPET)
    assert code == 0, output
    assert json.loads(output) == [["Grace Hopper", "PERSON"], ["Boston", "GPE"]]


def test_stops_on_sigterm_without_being_killed(start_app: StartApp) -> None:
    container = start_app().get_wrapped_container()
    started = time.monotonic()
    container.kill(signal="SIGTERM")
    exit_code = container.wait(timeout=10)["StatusCode"]
    print(f"stopped {time.monotonic() - started:.2f} s after SIGTERM with exit code {exit_code}")
    assert exit_code in {0, 143}, "the server did not exit cleanly on SIGTERM"
