"""nox -s bench against the real engine: its cold builds leave other projects' build caches alone,
and every engine call goes through the client DOCKER names.

Uses the base image `nox -s base-image` makes (no registry needed); removes only what it makes.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ner_build.bench import builds, measurements
from ner_build.engine.docker import START_ENGINE_HINT, Docker

BASE = "ner-app-base:bookworm-python3"
DOCKER = os.environ.get("DOCKER") or "docker"


def client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*shlex.split(DOCKER), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )


@pytest.fixture(scope="module")
def base_image() -> str:
    """The local base image; fails with what to do when there is no engine or no such image."""
    try:
        info = client("info", "--format", "{{.ServerVersion}}")
    except FileNotFoundError:
        pytest.fail(f"The docker client {DOCKER!r} was not found: set DOCKER.", pytrace=False)
    if info.returncode or not info.stdout.strip():
        pytest.fail(f"No Docker engine answers `{DOCKER} info`. {START_ENGINE_HINT}", pytrace=False)
    if client("image", "inspect", BASE).returncode:
        pytest.fail(
            f"{BASE} is not in the engine: make it with `nox -s base-image`.", pytrace=False
        )
    return BASE


@pytest.fixture
def made_images() -> Iterator[list[str]]:
    """Tags the test makes; removed afterwards (only these)."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        Docker.from_string(DOCKER).untag(tag)


def project(folder: Path, base: str, command: str) -> Path:
    """A one-step project: FROM base, RUN command."""
    folder.mkdir()
    (folder / "Dockerfile").write_text(f"FROM {base}\nRUN {command}\n")
    return folder


def cached(progress: str, instruction: str) -> bool:
    """Whether `--progress=plain` output reports the step running instruction as CACHED."""
    lines = progress.splitlines()
    steps = [line.split()[0] for line in lines if line.startswith("#") and instruction in line]
    assert steps, f"no step runs {instruction!r}"
    return f"{steps[0]} CACHED" in lines


def test_a_cold_bench_build_leaves_another_projects_build_cache_alone(
    base_image: str, made_images: list[str], tmp_path: Path
) -> None:
    token = uuid.uuid4().hex  # a step no earlier build can have cached
    other = project(tmp_path / "other", base_image, f"echo other {token} > /other.txt")
    mine = project(tmp_path / "mine", base_image, f"echo mine {token} > /mine.txt")
    other_tag, mine_tag = f"ner-app-test-other-{token[:12]}", f"ner-app-test-mine-{token[:12]}"
    made_images += [other_tag, mine_tag]
    other_build = ["build", "--progress=plain", f"--tag={other_tag}", str(other)]
    first = client(*other_build)
    assert first.returncode == 0, first.stderr
    assert not cached(first.stderr, f"RUN echo other {token}"), "the first build ran its step"

    builds.timed_build(
        Docker.from_string(DOCKER),
        builds.image_build_args(mine / "Dockerfile", mine_tag, mine, cold=True),
    )

    again = client(*other_build)
    assert again.returncode == 0, again.stderr
    assert cached(again.stderr, f"RUN echo other {token}"), again.stderr


def test_the_bench_engine_helpers_go_through_the_docker_client_it_is_given(
    base_image: str, tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    wrapper = tmp_path / "docker-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\nexec {DOCKER} "$@"\n')
    wrapper.chmod(0o755)
    docker = Docker.from_string(str(wrapper))

    size = measurements.image_size_mb(docker, base_image)
    with docker.published(base_image, "sleep", "60") as (container_id, address):
        memory = docker.memory_mb(container_id)

    expected_size = int(client("image", "inspect", "--format", "{{.Size}}", base_image).stdout)
    assert size == expected_size / measurements.MB
    assert address.startswith("http://127.0.0.1:")
    assert memory > 0
    assert client("container", "inspect", container_id).returncode != 0, "container left behind"
    calls = log.read_text().splitlines()
    assert calls == [
        f"image inspect --format {{{{.Size}}}} {base_image}",
        f"run --detach --publish=127.0.0.1::8501 {base_image} sleep 60",
        f"port {container_id} 8501/tcp",
        f"stats --no-stream --format {{{{.MemUsage}}}} {container_id}",
        f"rm --force {container_id}",
    ]
