"""nox -s bench's builds without an engine: what it asks our build and the seed's for."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from ner_build.bench import builds
from ner_build.build import base_image
from ner_build.build import options as build_options

from ..support import EVERY_OPTION


def test_the_worktree_build_keeps_every_build_option_and_builds_the_bench_image() -> None:
    passed = builds.ours_argv(EVERY_OPTION)
    assert build_options.parse(passed, {}) == replace(EVERY_OPTION, image=builds.OURS, result=None)


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
    parsed = build_options.parse(builds.ours_argv(relative), {})
    assert parsed.model_wheel == tmp_path / "wheels" / "en_x-1.0-py3-none-any.whl"
    assert parsed.ca_bundle == tmp_path / "ca.pem"
    assert parsed.dockerfile == tmp_path / "docker" / "Dockerfile"


def test_a_cold_build_of_ours_asks_for_no_cache_after_the_users_buildx_args() -> None:
    passed = builds.ours_argv(EVERY_OPTION, cold=True)
    expected = [*EVERY_OPTION.buildx_args, "--no-cache"]
    expected_options = replace(EVERY_OPTION, image=builds.OURS, buildx_args=expected, result=None)
    assert build_options.parse(passed, {}) == expected_options
    assert not any("prune" in arg for arg in passed)


def test_a_warm_build_of_ours_does_not_ask_for_no_cache() -> None:
    assert not any("--no-cache" in arg for arg in builds.ours_argv(EVERY_OPTION))


def test_a_cold_build_of_the_seed_asks_for_no_cache_and_never_for_a_prune() -> None:
    args = builds.seed_build_args(Path("/ctx"), EVERY_OPTION, "en_x", cold=True)
    assert args[0] == "build"
    assert "--no-cache" in args
    assert not any("prune" in arg for arg in args)
    assert args[-1] == "/ctx"


def test_the_seed_is_built_on_the_dockerfiles_pinned_base_when_none_is_chosen() -> None:
    args = builds.seed_build_args(
        Path("/ctx"), replace(EVERY_OPTION, base_image=None, dockerfile=None), "en_x"
    )
    assert f"--build-arg=BASE_IMAGE={base_image.pinned()}" in args
    assert "@sha256:" in base_image.pinned()


def test_a_warm_build_of_the_seed_uses_the_cache() -> None:
    args = builds.seed_build_args(Path("/ctx"), EVERY_OPTION, "en_x")
    assert "--no-cache" not in args


def test_the_seed_build_takes_the_base_image_ca_bundle_and_model_package() -> None:
    args = builds.seed_build_args(Path("/ctx"), EVERY_OPTION, "en_x", cold=True)
    assert f"--file={builds.SEED_DOCKERFILE}" in args
    assert f"--tag={builds.SEED}" in args
    assert "--build-arg=MODEL_PACKAGE=en_x" in args
    assert "--build-arg=BASE_IMAGE=ner-app-base:bookworm-python3" in args
    assert "--secret=id=ca,src=/etc/ssl/ca.pem" in args


def test_each_app_edit_is_new_so_no_build_cache_serves_it(tmp_path: Path) -> None:
    """Twice for one run index, two different lines (the old edit wrote the same one twice)."""
    examples = tmp_path / "src" / "ner_app" / "examples.py"
    examples.parent.mkdir(parents=True)
    edits = []
    for _ in range(2):
        examples.write_text("EXAMPLES = []\n")
        builds.edit_app(tmp_path / "src", 0)
        edits.append(examples.read_text())
    assert edits[0] != edits[1]
    assert all(edit.startswith("EXAMPLES = []\n# bench edit 0 ") for edit in edits)
