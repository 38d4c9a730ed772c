"""nox -s bench without an engine: what it asks the builds for, and how it reads `docker stats`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from ner_build.bench import command as bench
from ner_build.build import base_image
from ner_build.build import options as build_options
from ner_build.engine.docker import published_address
from ner_build.errors import ToolError

from ..support import EVERY_OPTION


def test_the_worktree_build_keeps_every_build_option_and_builds_the_bench_image() -> None:
    passed = bench.ours_argv(EVERY_OPTION)
    assert build_options.parse(passed, {}) == replace(EVERY_OPTION, image=bench.OURS, result=None)


def test_the_worktree_build_gets_absolute_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = replace(
        EVERY_OPTION,
        model_wheel=Path("wheels/en_x-1.0-py3-none-any.whl"),
        ca_bundle=Path("ca.pem"),
        dockerfile=Path("docker/Dockerfile"),
    )
    parsed = build_options.parse(bench.ours_argv(relative), {})
    assert parsed.model_wheel == tmp_path / "wheels" / "en_x-1.0-py3-none-any.whl"
    assert parsed.ca_bundle == tmp_path / "ca.pem"
    assert parsed.dockerfile == tmp_path / "docker" / "Dockerfile"


def test_a_cold_build_of_ours_asks_for_no_cache_after_the_users_buildx_args() -> None:
    passed = bench.ours_argv(EVERY_OPTION, cold=True)
    expected = [*EVERY_OPTION.buildx_args, "--no-cache"]
    expected_options = replace(EVERY_OPTION, image=bench.OURS, buildx_args=expected, result=None)
    assert build_options.parse(passed, {}) == expected_options
    assert not any("prune" in arg for arg in passed)


def test_a_warm_build_of_ours_does_not_ask_for_no_cache() -> None:
    assert not any("--no-cache" in arg for arg in bench.ours_argv(EVERY_OPTION))


def test_a_cold_build_of_the_seed_asks_for_no_cache_and_never_for_a_prune() -> None:
    args = bench.seed_build_args(Path("/ctx"), EVERY_OPTION, "en_x", cold=True)
    assert args[0] == "build"
    assert "--no-cache" in args
    assert not any("prune" in arg for arg in args)
    assert args[-1] == "/ctx"


def test_the_seed_is_built_on_the_dockerfiles_pinned_base_when_none_is_chosen() -> None:
    args = bench.seed_build_args(
        Path("/ctx"), replace(EVERY_OPTION, base_image=None, dockerfile=None), "en_x"
    )
    assert f"--build-arg=BASE_IMAGE={base_image.pinned()}" in args
    assert "@sha256:" in base_image.pinned()


def test_a_warm_build_of_the_seed_uses_the_cache() -> None:
    args = bench.seed_build_args(Path("/ctx"), EVERY_OPTION, "en_x")
    assert "--no-cache" not in args


def test_the_seed_build_takes_the_base_image_ca_bundle_and_model_package() -> None:
    args = bench.seed_build_args(Path("/ctx"), EVERY_OPTION, "en_x", cold=True)
    assert f"--file={bench.SEED_DOCKERFILE}" in args
    assert f"--tag={bench.SEED}" in args
    assert "--build-arg=MODEL_PACKAGE=en_x" in args
    assert "--build-arg=BASE_IMAGE=ner-app-base:bookworm-python3" in args
    assert "--secret=id=ca,src=/etc/ssl/ca.pem" in args


def test_the_published_address_is_the_first_binding_docker_port_names() -> None:
    assert published_address("127.0.0.1:49153\n") == "http://127.0.0.1:49153"


def test_a_container_without_a_published_port_fails_saying_so() -> None:
    with pytest.raises(ToolError, match="publishes no such port"):
        published_address("")


def test_runs_and_build_flags_are_split_between_bench_and_the_build() -> None:
    args, rest = bench.parser().parse_known_args(["--runs=2", "--model-mirror=http://m/"])
    assert args.runs == 2
    assert build_options.parse(rest, {}).model_mirror == "http://m/"


def test_runs_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        bench.parser().parse_known_args(["--runs=0"])
