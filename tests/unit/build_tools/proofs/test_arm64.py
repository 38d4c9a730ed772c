"""nox -s arm64's own parts: the base it builds on and the summary it writes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from ner_build.engine.docker import Docker
from ner_build.proofs import arm64

from ..build.test_multiplatform import AMD64, ARM64, loaded_image
from ..release.test_bundle import platform_bundle
from ..support import DOCKER, EVERY_OPTION


@pytest.fixture
def bases(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A tiny amd64 and a tiny arm64 image in the engine, as the two bases."""
    docker = Docker.from_string(DOCKER)
    with (
        loaded_image(docker, AMD64, "ner-app-test-arm64-session:amd64", tmp_path) as amd64,
        loaded_image(docker, ARM64, "ner-app-test-arm64-session:arm64", tmp_path) as arm,
    ):
        yield amd64, arm


@pytest.mark.host
def test_the_arm64_base_among_those_given_is_used(bases: tuple[str, str]) -> None:
    amd64, arm = bases
    options = replace(EVERY_OPTION, base_image=f"{amd64},{arm}")
    assert arm64.arm64_base(Docker.from_string(DOCKER), options, {}) == arm


@pytest.mark.host
def test_both_platforms_build_on_the_hosts_base_given_and_the_arm64_one(
    bases: tuple[str, str],
) -> None:
    amd64, arm = bases
    docker = Docker.from_string(DOCKER)
    given = replace(EVERY_OPTION, base_image=f"{arm},{amd64}")
    both = arm64.both_options(docker, given, "ner-app-base:bookworm-python3-arm64")
    assert both.base_image == f"{amd64},ner-app-base:bookworm-python3-arm64"
    assert both.platform == "linux/amd64,linux/arm64"
    alone = arm64.both_options(docker, replace(given, base_image=None), arm)
    assert alone.base_image == arm  # the host's then comes from the pinned index


def test_the_summary_records_each_steps_seconds(tmp_path: Path) -> None:
    summary = arm64.Summary(base_image="ner-app-base:bookworm-python3-arm64")
    summary.timed("two clean builds", time.monotonic() - 2.0)
    summary.reproducible = True
    summary.write(tmp_path / "summary.json")
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["platform"] == "linux/arm64"
    assert written["reproducible"] is True
    assert 2.0 <= written["seconds"]["two clean builds"] < 60


def test_other_flags_go_to_the_build() -> None:
    args, build_argv = arm64.parser().parse_known_args(["--compare", "--image=x", "--no-tests"])
    assert (args.compare, args.no_tests, build_argv) == (True, True, ["--image=x"])


@pytest.mark.host
def test_the_bundle_step_loads_each_platform_with_its_recorded_id(tmp_path: Path) -> None:
    images = platform_bundle(tmp_path / "bundle", tmp_path)
    for platform, image in images.items():
        assert arm64.loaded_by_script(tmp_path / "bundle", platform) == image.result.image_id
    assert arm64.loaded_by_script(tmp_path / "bundle", "linux/riscv64") == ""  # none for it
