import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ner_build import paths
from ner_build.build import base_image, debian_archive, inputs, model, record
from ner_build.build import command as build
from ner_build.build import options as build_options
from ner_build.engine import platforms
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed, ModelUnavailable
from ner_build.result import Fallback

from ..support import DOCKER, EVERY_OPTION, commit

ENV = {
    "DOCKER": "/opt/tools/docker",
    "NER_BASE_IMAGE": "ner-app-base:bookworm-python3",
    "NER_MODEL_WHEEL": "/wheels/en_x-1.0-py3-none-any.whl",
    "NER_MODEL_MIRROR": "http://mirror.example/models/",
    "NER_CA_BUNDLE": "/etc/ssl/ca.pem",
    "NER_IMAGE": "registry.example:5000/ner-app",
    "POETRY": "/opt/tools/poetry",
}
OPTIONS = build_options.BuildOptions(
    docker="docker",
    base_image=None,
    model_wheel=None,
    model_mirror=None,
    ca_bundle=None,
    image="ner-app",
    poetry="poetry",
)
LOCK_TIME, HEAD_TIME = 1_700_000_000, 1_700_003_600  # HEAD: 2023-11-14T23:13:20Z
REVISION = "f" * 40


# --- parse --------------------------------------------------------------------------------


def test_parse_defaults_with_an_empty_environment() -> None:
    assert build_options.parse([], {}) == OPTIONS


def test_parse_reads_each_environment_variable() -> None:
    assert build_options.parse([], ENV) == build_options.BuildOptions(
        docker="/opt/tools/docker",
        base_image="ner-app-base:bookworm-python3",
        model_wheel=Path("/wheels/en_x-1.0-py3-none-any.whl"),
        model_mirror="http://mirror.example/models/",
        ca_bundle=Path("/etc/ssl/ca.pem"),
        image="registry.example:5000/ner-app",
        poetry="/opt/tools/poetry",
    )


def test_parse_flags_override_the_environment() -> None:
    argv = [
        "--docker=/other/docker",
        "--base-image=python:3.12-slim",
        "--model-wheel=/other/en_y-2.0-py3-none-any.whl",
        "--model-mirror=file:///srv/models/",
        "--ca-bundle=/other/ca.pem",
        "--image=other-app",
        "--poetry=/other/poetry",
    ]
    assert build_options.parse(argv, ENV) == build_options.BuildOptions(
        docker="/other/docker",
        base_image="python:3.12-slim",
        model_wheel=Path("/other/en_y-2.0-py3-none-any.whl"),
        model_mirror="file:///srv/models/",
        ca_bundle=Path("/other/ca.pem"),
        image="other-app",
        poetry="/other/poetry",
    )


# --- the pinned base image ----------------------------------------------------------------


def test_the_pinned_base_image_is_the_dockerfile_pin() -> None:
    base = base_image.pinned()
    assert base.startswith("python:3.12-slim-bookworm@sha256:")
    assert len(base.split("@sha256:")[1]) == 64
    assert f"ARG BASE_IMAGE={base}\n" in paths.DOCKERFILE.read_text()


def test_the_pinned_base_image_without_the_arg_fails(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("# ARG BASE_IMAGE=commented:out\nFROM python:3.12-slim\n")
    with pytest.raises(CheckFailed, match="ARG BASE_IMAGE"):
        base_image.pinned(dockerfile)


# --- build_args ---------------------------------------------------------------------------


@pytest.fixture
def project(make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """inputs.ROOT pointed at a git repo whose lock and HEAD were committed at known times."""
    repo = make_repo()
    commit(repo, {"poetry.lock": "# lock\n"}, LOCK_TIME)
    commit(repo, {"README.md": "readme\n"}, HEAD_TIME)
    monkeypatch.setattr(inputs, "ROOT", repo)
    return repo


@pytest.fixture
def wheel(test_pipeline_wheel: Path) -> model.ModelWheel:
    return model.inspect(test_pipeline_wheel)


def build_arg_values(args: list[str]) -> dict[str, str]:
    prefix = "--build-arg="
    return dict(a.removeprefix(prefix).split("=", 1) for a in args if a.startswith(prefix))


def test_build_args_carry_the_model_version_and_revision(
    project: Path, wheel: model.ModelWheel
) -> None:
    values = build_arg_values(inputs.build_args(OPTIONS, wheel, "0.1.0", REVISION))
    assert values["MODEL_SHA256"] == wheel.sha256
    assert values["MODEL_PACKAGE"] == "en_ner_test"
    assert values["MODEL_VERSION"] == "0.1.0"
    assert values["MODEL_WHEEL"] == wheel.path.name
    assert values["VERSION"] == "0.1.0"
    assert values["REVISION"] == REVISION


def test_build_args_times_come_from_git(project: Path, wheel: model.ModelWheel) -> None:
    values = build_arg_values(inputs.build_args(OPTIONS, wheel, "0.1.0", REVISION))
    assert values["CREATED"] == "2023-11-14T23:13:20Z"
    assert values["SOURCE_DATE_EPOCH"] == str(HEAD_TIME)
    assert values["LOCK_EPOCH"] == str(LOCK_TIME)


def test_build_args_leave_out_base_image_and_secret_by_default(
    project: Path, wheel: model.ModelWheel
) -> None:
    args = inputs.build_args(OPTIONS, wheel, "0.1.0", REVISION)
    assert "BASE_IMAGE" not in build_arg_values(args)
    assert not [a for a in args if a.startswith("--secret")]


def test_build_args_pass_a_chosen_base_image(project: Path, wheel: model.ModelWheel) -> None:
    options = replace(OPTIONS, base_image="ner-app-base:bookworm-python3")
    args = inputs.build_args(options, wheel, "0.1.0", REVISION)
    assert "--build-arg=BASE_IMAGE=ner-app-base:bookworm-python3" in args


def test_build_args_pass_the_ca_bundle_as_a_secret(project: Path, wheel: model.ModelWheel) -> None:
    options = replace(OPTIONS, ca_bundle=Path("/etc/ssl/ca.pem"))
    args = inputs.build_args(options, wheel, "0.1.0", REVISION)
    assert args[-1] == "--secret=id=ca,src=/etc/ssl/ca.pem"
    assert sum(a.startswith("--secret") for a in args) == 1


def test_build_args_on_the_real_project_give_an_iso_created(wheel: model.ModelWheel) -> None:
    values = build_arg_values(inputs.build_args(OPTIONS, wheel, "0.1.0", REVISION))
    created = datetime.strptime(values["CREATED"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert created.timestamp() == int(values["SOURCE_DATE_EPOCH"])
    assert int(values["LOCK_EPOCH"]) <= int(values["SOURCE_DATE_EPOCH"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image": "ner-app:1.0"}, "without a tag"),
        ({"platform": "linux/riscv64"}, "linux/amd64 and linux/arm64"),
    ],
)
def test_bad_options_fail_before_anything_is_prepared(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, str], message: str
) -> None:
    prepared: list[object] = []
    monkeypatch.setattr(inputs, "prepare_context", lambda *args: prepared.append(args))
    with pytest.raises(CheckFailed, match=message):
        build.run(replace(OPTIONS, **change))  # type: ignore[arg-type]
    assert prepared == []


# --- to_argv ------------------------------------------------------------------------------


def test_to_argv_gives_back_every_option() -> None:
    """What bench passes to a build in another tree: no option may be dropped on the way."""
    defaults = build_options.parse([], {})
    changed = [
        f.name
        for f in fields(EVERY_OPTION)
        if getattr(EVERY_OPTION, f.name) == getattr(defaults, f.name)
    ]
    assert changed == [], "set every field to a non-default value"
    assert build_options.parse(build_options.to_argv(EVERY_OPTION), {}) == EVERY_OPTION


def test_to_argv_of_the_defaults_gives_the_defaults() -> None:
    assert build_options.parse(build_options.to_argv(OPTIONS), {}) == OPTIONS


# --- fallbacks ------------------------------------------------------------------------------


def test_without_allow_fallbacks_an_unreachable_model_stops_the_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(inputs, "CACHE", tmp_path / "cache")
    options = replace(OPTIONS, model_mirror="http://127.0.0.1:9/")
    with pytest.raises(ModelUnavailable, match="--model-mirror"):
        inputs.pinned_or_fallback_model(options, [])


def test_with_allow_fallbacks_an_unreachable_model_is_replaced_and_recorded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(inputs, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(inputs, "TEST_PIPELINE", tmp_path / "pipeline")
    options = replace(OPTIONS, model_mirror="http://127.0.0.1:9/", allow_fallbacks=True)
    fallbacks: list[Fallback] = []
    wheel = inputs.pinned_or_fallback_model(options, fallbacks)
    assert model.inspect(wheel).package == "en_ner_test"
    [fallback] = fallbacks
    assert fallback.input == "model"
    assert fallback.pinned.startswith("en_core_web_sm 3.8.0 from https://")
    assert "Could not download" in fallback.reason
    assert "--model-mirror" in fallback.remedy


def test_fallbacks_become_a_build_arg_that_labels_the_image(
    project: Path, wheel: model.ModelWheel
) -> None:
    stand_in = Fallback("base image", "python@sha256:x", "local", "no registry", "pull it")
    args = inputs.build_args(OPTIONS, wheel, "0.1.0", REVISION, [stand_in])
    assert build_arg_values(args)["FALLBACKS"] == "base-image"
    assert "FALLBACKS" not in build_arg_values(inputs.build_args(OPTIONS, wheel, "0.1.0", REVISION))
    assert 'io.ner-app.fallbacks="${FALLBACKS}"' in paths.DOCKERFILE.read_text()


# --- --platform ---------------------------------------------------------------------------


def test_no_platform_builds_for_the_engines_own() -> None:
    assert build_options.target_platform(OPTIONS) is None


def test_the_hosts_platform_needs_no_emulator() -> None:
    native = platforms.Platform.native()
    assert build_options.target_platform(replace(OPTIONS, platform=str(native))) == native


def test_several_platforms_in_one_build_are_refused_saying_what_to_run() -> None:
    with pytest.raises(CheckFailed, match="this step builds one platform"):
        build_options.target_platform(replace(OPTIONS, platform="linux/amd64,linux/arm64"))


ARCHIVE = debian_archive.ArchiveRecord(
    1793491200,
    "amd64",
    (
        debian_archive.Release("bookworm", "2026-11-08T10:00:00Z"),
        debian_archive.Release("bookworm-security", "2026-11-27T21:03:35Z"),
    ),
    (debian_archive.Package("libssl3", "3.0.17-1~deb12u2", "amd64"),),
    ("http://mirror.example/debian",),
)


@pytest.fixture
def labelled_base(tmp_path: Path) -> Iterator[str]:
    """A one-file base image with an archive record in its labels, in the real engine."""
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        tar.addfile(tarfile.TarInfo("etc/hello"), io.BytesIO(b""))
    tag = "ner-app-test-build-base:labelled"
    archive = tmp_path / "base.tar"
    labels = debian_archive.to_labels(ARCHIVE)
    base_image.save_archive(layer, tag, ARCHIVE.epoch, archive, labels=labels)
    docker = Docker.from_string(DOCKER)
    docker.load(archive)
    yield tag
    docker.remove_image(tag)


@pytest.mark.host
def test_the_build_records_a_labelled_bases_archive_state_without_its_mirrors(
    labelled_base: str,
) -> None:
    docker = Docker.from_string(DOCKER)
    archive = debian_archive.from_labels(docker.labels(labelled_base))
    recorded = record.archive_document(archive)
    assert recorded is not None
    assert "mirrors" not in recorded
    assert recorded["packages"] == [
        {"name": "libssl3", "version": "3.0.17-1~deb12u2", "architecture": "amd64"}
    ]
    assert record.archive_summary(archive) == (
        "bookworm=2026-11-08T10:00:00Z bookworm-security=2026-11-27T21:03:35Z "
        f"packages sha256:{ARCHIVE.packages_sha256}"
    )


@pytest.mark.host
def test_a_base_without_an_archive_record_records_none(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        tar.addfile(tarfile.TarInfo("etc/hello"), io.BytesIO(b""))
    tag = "ner-app-test-build-base:unlabelled"
    base_image.save_archive(layer, tag, ARCHIVE.epoch, tmp_path / "base.tar")
    docker = Docker.from_string(DOCKER)
    docker.load(tmp_path / "base.tar")
    try:
        archive = debian_archive.from_labels(docker.labels(tag))
        assert record.archive_document(archive) is None
        assert record.archive_summary(archive) == ""
        assert record.base_digest(docker, tag) == ""  # built here: no registry digest
    finally:
        docker.remove_image(tag)


def test_a_base_pinned_by_digest_records_that_digest() -> None:
    docker = Docker.from_string(DOCKER)
    assert record.base_digest(docker, "python:3.12@sha256:" + "a" * 64) == "sha256:" + "a" * 64


def test_the_build_keeps_its_public_face_after_the_options_moved_out() -> None:
    """`build.parse` and `build.BuildOptions` are what older callers (and rebuild.sh trees) use."""
    assert build.parse is build_options.parse
    assert build.BuildOptions is build_options.BuildOptions
    assert build.parse(["--image=x"], {}).image == "x"


def test_the_builds_public_face_is_the_packages() -> None:
    """`from ner_build import build; build.run(build.parse(...))` keeps working in wings."""
    import ner_build.build as package

    assert (package.run, package.parse, package.BuildOptions) == (
        build.run,
        build.parse,
        build.BuildOptions,
    )
    with pytest.raises(AttributeError, match="no attribute 'verify'"):
        package.verify  # noqa: B018 (the package re-exports the public face only)


def test_a_part_of_the_build_loads_without_the_build(tmp_path: Path) -> None:
    """script/up loads build.base_image with the standard library only: the package must not
    import the build (and its third-party imports) to give it."""
    check = (
        "import sys, ner_build.build.base_image; sys.exit('ner_build.build.command' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(paths.ROOT / "tools")}
    assert subprocess.run([sys.executable, "-c", check], env=env, check=False).returncode == 0
