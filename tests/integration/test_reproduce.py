"""`nox -s reproduce` catches a build that is not deterministic, and names what differs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound
from ner_build.reproduce import NAMES
from ner_build.result import BuildResult

from tests.integration.conftest import ROOT

SMOKE_TEST = "# --- rootfs: of the base, only what the runtime loads"  # the app stage ends above
STAMP = "RUN date +%s%N > /opt/app/built-at\n"


@pytest.fixture
def kept_images(docker_client: docker.DockerClient) -> Iterator[None]:
    """reproduce keeps differing images for inspection; remove them after the test."""
    yield
    for name in NAMES:
        for image in docker_client.images.list(name=name):
            for tag in image.tags:
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
        [sys.executable, "-m", "ner_build.reproduce", "--dockerfile", str(stamped)],
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
