"""Liveness and readiness, as Docker and Kubernetes probes would see them."""

from __future__ import annotations

import json
import time

from ner_build.engine.docker import Docker
from ner_build.result import BuildResult

from tests.integration.conftest import StartApp, http_get, run_in, url


def test_health_is_ok_and_readiness_describes_the_baked_pipeline(
    start_app: StartApp, built: BuildResult
) -> None:
    container = start_app()
    assert http_get(url(container, "/_stcore/health")) == (200, "ok")
    status, body = http_get(url(container, "/readyz"))
    assert status == 200
    ready = json.loads(body)
    assert ready["status"] == "ready"
    assert ready["pipeline"]["name"] == built.model
    assert ready["pipeline"]["version"] == built.model_version


def test_readiness_fails_but_health_stays_ok_when_the_pipeline_cannot_load(
    start_app: StartApp,
) -> None:
    container = start_app(wait_path="/_stcore/health", env={"NER_MODEL": "xx_not_installed"})
    deadline = time.monotonic() + 30
    status, body = http_get(url(container, "/readyz"))
    while json.loads(body)["status"] == "loading" and time.monotonic() < deadline:
        status, body = http_get(url(container, "/readyz"))
    assert status == 503
    assert json.loads(body)["status"] == "failed"
    assert "'xx_not_installed' is not installed" in json.loads(body)["error"]
    assert http_get(url(container, "/_stcore/health")) == (200, "ok")


def test_the_image_healthcheck_command_passes_in_a_running_container(
    start_app: StartApp, image: str
) -> None:
    # Through the engine's CLI: Podman 4.3's Docker-compatible API leaves Healthcheck out.
    inspect = ("image", "inspect", "--format", "{{json .Config.Healthcheck}}", image)
    healthcheck = json.loads(Docker.from_env().run(*inspect, check=True).stdout)["Test"]
    assert healthcheck[0] == "CMD"
    container = start_app()
    assert run_in(container, *healthcheck[1:])[0] == 0
    assert run_in(container, *healthcheck[1:], env={"STREAMLIT_SERVER_PORT": "1"})[0] == 1


def test_sigterm_drains_readiness_then_stops(start_app: StartApp) -> None:
    """With NER_DRAIN_SECONDS, SIGTERM makes /readyz 503 at once while the server keeps
    serving, and the container stops on its own once the drain time is over."""
    drain_s = 3
    container = start_app(env={"NER_DRAIN_SECONDS": str(drain_s)})
    wrapped = container.get_wrapped_container()
    signalled = time.monotonic()
    wrapped.kill(signal="SIGTERM")
    status, body = http_get(url(container, "/readyz"))
    while status == 200 and time.monotonic() - signalled < drain_s:
        status, body = http_get(url(container, "/readyz"))
    assert (status, json.loads(body)["status"]) == (503, "draining")
    assert http_get(url(container, "/_stcore/health")) == (200, "ok")  # still serving
    exit_code = wrapped.wait(timeout=drain_s + 30)["StatusCode"]
    assert time.monotonic() - signalled >= drain_s
    assert exit_code == 0
