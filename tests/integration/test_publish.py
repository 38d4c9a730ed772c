"""`nox -s publish` against a real registry (Debian's docker-registry on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from ner_build.engine.docker import Docker
from ner_build.engine.registry import local_registry
from ner_build.errors import CheckFailed
from ner_build.result import BuildResult

from tests.integration.conftest import ROOT, StartApp, http_get, url


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry with its own config and storage in a temporary folder."""
    try:
        with local_registry(tmp_path_factory.mktemp("registry")) as address:
            yield address
    except CheckFailed as error:
        pytest.fail(str(error), pytrace=False)


def skopeo(*args: str) -> str:
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_publish_round_trip_through_a_real_registry(
    registry: str,
    built: BuildResult,
    docker_client: docker.DockerClient,
    start_app: StartApp,
    tmp_path: Path,
) -> None:
    repository = f"{registry}/ner-app"
    publish = subprocess.run(
        [
            sys.executable,
            "-m",
            "ner_build.release.publish",
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
    sha_tag = built.tags[1].rsplit(":", 1)[1]
    assert recorded["refs"] == [f"{repository}:{t.rsplit(':', 1)[1]}" for t in built.tags]

    for ref in recorded["refs"]:
        docker_client.images.remove(ref)
    fetched = tmp_path / "fetched"
    skopeo("copy", "--src-tls-verify=false", f"docker://{repository}:{sha_tag}", f"dir:{fetched}")
    assert skopeo("manifest-digest", str(fetched / "manifest.json")).strip() == digest
    remote = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repository}:latest"))
    assert remote["Digest"] == digest
    assert remote["Labels"]["org.opencontainers.image.revision"] == built.revision

    # Into the engine under test through its own client (skopeo's docker-daemon: transport
    # reaches only the default Docker socket, not Podman or a second dockerd).
    local = f"ner-app-fetched:{sha_tag}"
    skopeo("copy", f"dir:{fetched}", f"docker-archive:{tmp_path / 'fetched.tar'}:{local}")
    engine = Docker.from_env()
    engine.load(tmp_path / "fetched.tar")
    try:
        container = start_app(image_ref=local)
        assert http_get(url(container, "/_stcore/health")) == (200, "ok")
        assert json.loads(http_get(url(container, "/readyz"))[1])["status"] == "ready"
    finally:
        engine.untag(local)
