"""The multi-platform image: one OCI index over each platform's image, read by skopeo, pushed to
Debian's docker-registry and listed by `docker manifest inspect` (real tools; tiny images)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
from ner_build.build import multiplatform
from ner_build.build import options as build_options
from ner_build.engine.docker import Docker
from ner_build.engine.platforms import Platform
from ner_build.engine.registry import local_registry
from ner_build.errors import CheckFailed
from ner_build.image import archive as image_archive
from ner_build.image import oci_layout
from ner_build.paths import BUILD
from ner_build.result import BuildResult, sbom_beside

from ..image.test_normalize import app_layer, base_layer, buildkit_config, save_archive
from ..release.test_bundle import RESULT
from ..support import DOCKER
from .test_command import OPTIONS

AMD64, ARM64 = Platform("amd64"), Platform("arm64")


def saved_image(folder: Path, platform: Platform) -> image_archive.SavedImage:
    config = {**buildkit_config(), "architecture": platform.architecture}
    if platform.variant:
        config["variant"] = platform.variant
    layers = [base_layer(), app_layer(content=platform.architecture.encode())]
    return image_archive.read(save_archive(folder / f"{platform.architecture}.tar", layers, config))


@pytest.fixture
def images(tmp_path: Path) -> dict[Platform, image_archive.SavedImage]:
    return {ARM64: saved_image(tmp_path, ARM64), AMD64: saved_image(tmp_path, AMD64)}


def write(
    images: dict[Platform, image_archive.SavedImage], target: Path
) -> oci_layout.WrittenIndex:
    return oci_layout.write_platforms(images, target, 1_700_000_000, "0.1.0")


def archived_json(archive: Path, name: str) -> Any:
    with tarfile.open(archive) as opened:
        return json.load(image_archive.member(opened, name))


def skopeo(*args: str) -> str:
    binary = shutil.which("skopeo")
    if binary is None:
        pytest.fail("skopeo is missing: run `tools/provision-debian registry` (Debian: skopeo)")
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout


def test_the_index_names_the_tag_and_lists_each_platform_with_its_manifest(
    images: dict[Platform, image_archive.SavedImage], tmp_path: Path
) -> None:
    written = write(images, tmp_path / "index.tar")
    top = archived_json(tmp_path / "index.tar", "index.json")
    (entry,) = top["manifests"]
    assert entry["annotations"] == {oci_layout.REF_NAME: "0.1.0"}
    assert entry["digest"] == written.index_digest
    nested = archived_json(tmp_path / "index.tar", image_archive.blob(written.index_digest))
    listed = {json.dumps(m["platform"], sort_keys=True): m["digest"] for m in nested["manifests"]}
    assert listed == {
        '{"architecture": "amd64", "os": "linux"}': written.images["linux/amd64"].manifest_digest,
        '{"architecture": "arm64", "os": "linux", "variant": "v8"}': (
            written.images["linux/arm64"].manifest_digest
        ),
    }
    for platform, saved in images.items():
        assert written.images[str(platform)].image_id == oci_layout.digest_of(saved.config_bytes)


def test_docker_load_finds_every_platforms_image_in_manifest_json(
    images: dict[Platform, image_archive.SavedImage], tmp_path: Path
) -> None:
    written = write(images, tmp_path / "index.tar")
    loadable = archived_json(tmp_path / "index.tar", "manifest.json")
    configs = sorted(entry["Config"] for entry in loadable)
    assert configs == sorted(image_archive.blob(w.image_id) for w in written.images.values())


def test_the_same_images_give_the_same_archive_bytes(
    images: dict[Platform, image_archive.SavedImage], tmp_path: Path
) -> None:
    assert write(images, tmp_path / "a.tar") == write(images, tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


@pytest.mark.host
def test_skopeo_reads_the_index_and_each_platform(
    images: dict[Platform, image_archive.SavedImage], tmp_path: Path
) -> None:
    written = write(images, tmp_path / "index.tar")
    raw = skopeo("inspect", "--raw", f"oci-archive:{tmp_path / 'index.tar'}").encode()
    assert oci_layout.digest_of(raw) == written.index_digest
    arm = skopeo("inspect", "--override-arch=arm64", f"oci-archive:{tmp_path / 'index.tar'}")
    assert json.loads(arm)["Architecture"] == "arm64"


@pytest.mark.host
def test_pushed_to_a_registry_docker_manifest_inspect_lists_both_platforms(
    images: dict[Platform, image_archive.SavedImage], tmp_path: Path
) -> None:
    write(images, tmp_path / "index.tar")
    oci_layout.write(images[AMD64], tmp_path / "single.tar", 1_700_000_000)
    docker = multiplatform.manifest_client({"DOCKER": DOCKER})
    with local_registry(tmp_path) as registry:
        multiplatform.push(tmp_path / "index.tar", f"{registry}/ner-app:0.1.0", tls_verify=False)
        multiplatform.push(tmp_path / "single.tar", f"{registry}/ner-app:single", tls_verify=False)
        both = multiplatform.listed_platforms(docker, f"{registry}/ner-app:0.1.0", insecure=True)
        control = multiplatform.listed_platforms(
            docker, f"{registry}/ner-app:single", insecure=True
        )
    assert both == ["linux/amd64", "linux/arm64"]
    assert control == []  # one image: a manifest, not an index


@pytest.mark.host
def test_a_push_that_fails_says_so(tmp_path: Path) -> None:
    oci_layout.write(saved_image(tmp_path, AMD64), tmp_path / "single.tar", 1_700_000_000)
    with pytest.raises(CheckFailed, match="skopeo could not push"):
        multiplatform.push(tmp_path / "single.tar", "127.0.0.1:9/ner-app:x", tls_verify=False)


def test_the_hosts_platform_keeps_the_regular_name_and_record() -> None:
    native = Platform.native()
    other = ARM64 if native == AMD64 else AMD64
    own = multiplatform.platform_options(OPTIONS, native, native, "base:own")
    assert (own.image, own.result, own.base_image) == (OPTIONS.image, OPTIONS.result, "base:own")
    emulated = multiplatform.platform_options(OPTIONS, other, native, None)
    assert emulated.image == f"{OPTIONS.image}-{other.architecture}"
    assert emulated.result == BUILD / other.architecture / "image.json"
    assert emulated.platform == str(other)


def test_several_platforms_go_to_the_multiplatform_build() -> None:
    assert multiplatform.is_multiplatform(replace(OPTIONS, platform="linux/amd64,linux/arm64"))
    assert not multiplatform.is_multiplatform(replace(OPTIONS, platform="linux/arm64"))
    assert not multiplatform.is_multiplatform(OPTIONS)
    with pytest.raises(CheckFailed, match="this step builds one platform"):
        build_options.target_platform(replace(OPTIONS, platform="linux/amd64,linux/arm64"))


def test_without_base_images_each_platform_builds_on_the_pinned_base() -> None:
    docker = Docker.from_string(DOCKER)
    assert multiplatform.bases(docker, None, (AMD64, ARM64)) == {AMD64: None, ARM64: None}


@contextlib.contextmanager
def loaded_image(docker: Docker, platform: Platform, tag: str, folder: Path) -> Iterator[str]:
    """A tiny image of the platform in the engine, tagged, until the block ends."""
    archive = folder / f"{platform.architecture}-loadable.tar"
    oci_layout.write(saved_image(folder, platform), archive, 1_700_000_000)
    loaded = docker.run("load", "--quiet", "--input", str(archive), check=True).stdout
    image_id = loaded.strip().split()[-1]
    docker.tag(image_id, [tag])
    try:
        yield tag
    finally:
        docker.run("image", "rm", tag, image_id)


@pytest.mark.host
def test_each_given_base_goes_to_its_platform_and_the_others_to_the_pinned(
    tmp_path: Path,
) -> None:
    docker = Docker.from_string(DOCKER)
    tag = "ner-app-test-multiplatform-base:arm64"
    with loaded_image(docker, ARM64, tag, tmp_path):
        assert multiplatform.bases(docker, tag, (AMD64, ARM64)) == {AMD64: None, ARM64: tag}
        with pytest.raises(CheckFailed, match=r"is linux/arm64, none of the platforms built"):
            multiplatform.bases(docker, tag, (AMD64,))  # the control: a base of no target


@pytest.mark.host
def test_a_base_that_is_not_there_is_refused_saying_how_to_make_one() -> None:
    docker = Docker.from_string(DOCKER)
    with pytest.raises(CheckFailed, match=r"is not in the engine.*--arch arm64"):
        multiplatform.bases(docker, "ner-app-test-absent:never", (AMD64, ARM64))


@pytest.mark.host
def test_images_built_elsewhere_are_joined_tagged_as_a_build_here_tags_them(
    tmp_path: Path,
) -> None:
    docker = Docker.from_string(DOCKER)
    native = Platform.native()
    other = ARM64 if native == AMD64 else AMD64
    tags = ["ner-app-unit-join:0.1.0", "ner-app-unit-join:abc1234"]
    moved = [
        "ner-app-unit-join-" + other.architecture + t.removeprefix("ner-app-unit-join")
        for t in tags
    ]
    records = []
    with (
        loaded_image(docker, native, "ner-app-unit-join-load:native", tmp_path) as own,
        loaded_image(docker, other, "ner-app-unit-join-load:other", tmp_path) as emulated,
    ):
        for name, ref, platform in (("own", own, native), ("other", emulated, other)):
            record = tmp_path / name / "image.json"
            record.parent.mkdir()
            result = replace(
                RESULT, image_id=docker.image_id(ref) or "", tags=tags, platform=str(platform)
            )
            record.write_text(json.dumps(asdict(result)))
            sbom_beside(record).write_text(f"sbom of {platform}")
            records.append(record)
        try:
            joined = multiplatform.join(
                docker, records, tmp_path / "build", tmp_path / "build" / "image.json"
            )
            ids = {p: docker.image_id(r) for p, r in ((str(native), own), (str(other), emulated))}
            assert {p: i["image_id"] for p, i in joined.images.items()} == ids
            assert docker.image_id(tags[0]) == ids[str(native)]
            assert docker.image_id(moved[0]) == ids[str(other)]
            placed = BuildResult.load(tmp_path / "build" / other.architecture / "image.json")
            assert placed.tags == moved
            assert (
                sbom_beside(tmp_path / "build" / other.architecture / "image.json").read_text()
                == f"sbom of {other}"
            )
            assert (tmp_path / "build" / "index.oci.tar").is_file()
        finally:
            docker.run("image", "rm", *tags, *moved)


@pytest.mark.host
def test_a_record_whose_image_was_not_pulled_is_refused_saying_how_to_pull_it(
    tmp_path: Path,
) -> None:
    record = tmp_path / "image.json"
    record.write_text(json.dumps(asdict(replace(RESULT, platform="linux/arm64"))))
    with pytest.raises(CheckFailed, match=r"not in the engine.*docker pull --platform linux/arm64"):
        multiplatform.join(Docker.from_string(DOCKER), [record], tmp_path, tmp_path / "own.json")
