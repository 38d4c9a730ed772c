"""`nox -s publish` against a real registry (Debian's docker-registry on 127.0.0.1)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import docker
from tests.integration.conftest import ROOT, StartApp, http_get, url

REGISTRY_BINARY = "docker-registry"
REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: 127.0.0.1:{port}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_answering(address: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "docker-registry exited while starting"
        try:
            if http_get(address)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)  # polling interval while the port opens, not a fixed wait
    pytest.fail(f"docker-registry did not answer {address} within {timeout} s")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry with its own config and storage in a temporary folder; yields host:port."""
    binary = shutil.which(REGISTRY_BINARY)
    if not binary:
        pytest.fail("docker-registry is missing: `apt-get install docker-registry`.", pytrace=False)
    folder = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(root=folder / "storage", port=port))
    process = subprocess.Popen([binary, "serve", str(config)])
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/v2/", process, timeout=30)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def skopeo(*args: str) -> str:
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_publish_round_trip_through_a_real_registry(
    registry: str,
    built: dict[str, Any],
    docker_client: docker.DockerClient,
    start_app: StartApp,
    tmp_path: Path,
) -> None:
    repository = f"{registry}/ner-app"
    publish = subprocess.run(
        [
            sys.executable,
            "-m",
            "ner_build.publish",
            "--repository",
            repository,
            "--force",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert publish.returncode == 0, publish.stderr[-3000:]
    recorded = json.loads((ROOT / "build" / "publish.json").read_text())
    digest = recorded["digest"]
    assert f"digest: {digest}" in publish.stdout
    sha_tag = built["tags"][1].rsplit(":", 1)[1]
    assert recorded["refs"] == [f"{repository}:{t.rsplit(':', 1)[1]}" for t in built["tags"]]

    for ref in recorded["refs"]:
        docker_client.images.remove(ref)
    fetched = tmp_path / "fetched"
    skopeo("copy", "--src-tls-verify=false", f"docker://{repository}:{sha_tag}", f"dir:{fetched}")
    assert skopeo("manifest-digest", str(fetched / "manifest.json")).strip() == digest
    remote = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repository}:latest"))
    assert remote["Digest"] == digest
    assert remote["Labels"]["org.opencontainers.image.revision"] == built["revision"]

    local = f"ner-app-fetched:{sha_tag}"
    skopeo("copy", f"dir:{fetched}", f"docker-daemon:{local}")
    try:
        container = start_app(image_ref=local)
        assert http_get(url(container, "/_stcore/health")) == (200, "ok")
        assert json.loads(http_get(url(container, "/readyz"))[1])["status"] == "ready"
    finally:
        docker_client.images.remove(local)
