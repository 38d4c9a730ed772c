"""`nox -s reproduce` catches a build that is not deterministic, and names what differs; with
--against, a record made elsewhere, and the input that explains the difference."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound
from ner_build.proofs.reproduce import NAMES
from ner_build.result import BuildResult

from tests.integration.conftest import BUILD_RESULT, ROOT

SMOKE_TEST = "# --- rootfs: of the base, only what the runtime loads"  # the app stage ends above
STAMP = "RUN date +%s%N > /opt/app/built-at\n"


@pytest.fixture
def kept_images(docker_client: docker.DockerClient) -> Iterator[None]:
    """reproduce keeps differing images for inspection; remove them after the test."""
    yield
    remove_reproduce_tags(docker_client)


def remove_reproduce_tags(docker_client: docker.DockerClient) -> None:
    """Only reproduce's own tags: an identical image also carries the regular build's."""
    for name in NAMES:
        for image in docker_client.images.list(name=name):
            for tag in image.tags:
                if tag.startswith(f"{name}:"):
                    with contextlib.suppress(ImageNotFound):
                        docker_client.images.remove(tag)


@pytest.mark.usefixtures("kept_images")
def test_reproduce_names_a_file_that_holds_the_build_time(
    tmp_path: Path, built: BuildResult
) -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert SMOKE_TEST in dockerfile
    stamped = tmp_path / "Dockerfile"
    stamped.write_text(dockerfile.replace(SMOKE_TEST, STAMP + SMOKE_TEST))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tools")}  # build options come from the env
    result = subprocess.run(
        [sys.executable, "-m", "ner_build.proofs.reproduce", "--dockerfile", str(stamped)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    report = result.stdout
    assert "NOT reproducible" in report
    assert "opt/app/built-at: content" in report
    layer_lines = [line for line in report.splitlines() if line.startswith("layer ")]
    assert len(layer_lines) == 1, report  # only the app layer differs


def run_reproduce(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tools")}  # build options come from the env
    return subprocess.run(
        [sys.executable, "-m", "ner_build.proofs.reproduce", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.usefixtures("kept_images", "built")
def test_reproduce_against_a_record_names_the_input_behind_the_first_differing_layer(
    tmp_path: Path,
) -> None:
    recorded = json.loads(BUILD_RESULT.read_text())
    app = recorded["layers"][2]
    assert app["name"] == "app"
    assert app["inputs"]["app wheel"].startswith("ner_app-")
    elsewhere = json.loads(json.dumps(recorded))  # as another machine with another app wheel
    elsewhere["image_id"] = "sha256:" + "0" * 64
    elsewhere["layers"][2]["diff_id"] = "sha256:" + "1" * 64
    elsewhere["layers"][2]["inputs"]["app wheel"] = "ner_app-0.1.0-py3-none-any.whl sha256:2"
    record = tmp_path / "image.json"
    record.write_text(json.dumps(elsewhere))
    result = run_reproduce("--against", str(record))
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "first differing layer: 3 of 3, app (COPY --from=app" in result.stdout
    assert f"  app wheel: ours {app['inputs']['app wheel']}, theirs ner_app-0.1.0" in result.stdout
    assert "base image ID:" not in result.stdout  # only what differs is named
    # The control: the clean rebuild recorded exactly the regular build's layers and inputs.
    ours = json.loads((ROOT / "build" / "reproduce" / "image.json").read_text())
    assert ours["layers"] == recorded["layers"]
    assert ours["image_id"] == recorded["image_id"]


def test_removing_reproduces_tags_leaves_the_regular_builds_image(
    image: str, docker_client: docker.DockerClient
) -> None:
    docker_client.images.get(image).tag(NAMES[0], "kept")  # as an identical rebuild is tagged
    remove_reproduce_tags(docker_client)
    assert not docker_client.images.list(name=NAMES[0])  # the control: its tag went
    assert image in docker_client.images.get(image).tags
