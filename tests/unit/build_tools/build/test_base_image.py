import hashlib
import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ner_build import paths
from ner_build.build import base_image, debian_archive
from ner_build.build.debian_archive import ArchiveRecord, Package, Release
from ner_build.engine.docker import Docker
from ner_build.engine.platforms import Platform
from ner_build.errors import CheckFailed

TAG = "ner-app-base:test"
EPOCH = base_image.DEFAULT_EPOCH

DEB822 = """\
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def test_host_mirror_reads_a_deb822_file(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(DEB822)
    assert base_image.host_mirror([tmp_path / "missing", sources]) == "http://mirror.example/debian"


def test_host_mirror_reads_a_one_line_entry_with_options(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text(
        "# the main archive\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://x/debian bookworm main\n"
    )
    assert base_image.host_mirror([sources]) == "http://x/debian"


def test_host_mirror_without_an_entry_fails(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text("# deb http://commented.example/debian bookworm main\n")
    with pytest.raises(CheckFailed, match="--mirror"):
        base_image.host_mirror([sources, tmp_path / "missing.sources"])


@pytest.mark.parametrize("mirror", ["http://deb.example/debian", "http://deb.example/debian/"])
def test_security_mirror_sits_beside_the_archive(mirror: str) -> None:
    assert base_image.security_mirror_for(mirror) == "http://deb.example/debian-security"


def test_sources_entry_lists_the_archive_and_the_security_suite() -> None:
    entry = base_image.sources_entry("http://a/debian", "http://s/debian-security")
    assert "URIs: http://a/debian\nSuites: bookworm bookworm-updates\n" in entry
    assert "URIs: http://s/debian-security\nSuites: bookworm-security\n" in entry
    assert entry.count(f"Signed-By: {base_image.KEYRING}") == 2


def test_parse_derives_the_security_mirror_from_the_environment() -> None:
    options = base_image.parse([], {"NER_DEBIAN_MIRROR": "http://m/debian", "DOCKER": "/bin/dk"})
    assert (options.mirror, options.security_mirror) == (
        "http://m/debian",
        "http://m/debian-security",
    )
    assert (options.epoch, options.tag) == (EPOCH, base_image.DEFAULT_TAG)
    assert options.platform == Platform.native()
    assert options.docker.command == ("/bin/dk",)


# --- save_archive -------------------------------------------------------------------------


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    """A small root filesystem layer as an uncompressed tar."""
    path = tmp_path / "rootfs.tar"
    with tarfile.open(path, "w") as tar:
        data = b"hello from the layer\n"
        info = tarfile.TarInfo("etc/hello")
        info.size, info.mtime = len(data), EPOCH
        tar.addfile(info, io.BytesIO(data))
    return path


def read_member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def test_save_archive_returns_a_sha256_image_id(layer: Path, tmp_path: Path) -> None:
    image_id = base_image.save_archive(layer, TAG, EPOCH, tmp_path / "image.tar")
    assert image_id.startswith("sha256:")
    assert len(image_id.removeprefix("sha256:")) == 64
    int(image_id.removeprefix("sha256:"), 16)


def test_save_archive_is_deterministic(layer: Path, tmp_path: Path) -> None:
    first = base_image.save_archive(layer, TAG, EPOCH, tmp_path / "one.tar")
    second = base_image.save_archive(layer, TAG, EPOCH, tmp_path / "two.tar")
    assert first == second
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()


def test_save_archive_id_changes_with_the_epoch(layer: Path, tmp_path: Path) -> None:
    first = base_image.save_archive(layer, TAG, EPOCH, tmp_path / "one.tar")
    other = base_image.save_archive(layer, TAG, EPOCH + 1, tmp_path / "two.tar")
    assert first != other


def test_save_archive_manifest_names_the_config_tag_and_layer(layer: Path, tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    image_id = base_image.save_archive(layer, TAG, EPOCH, archive)
    [entry] = json.loads(read_member(archive, "manifest.json"))
    config_name = image_id.removeprefix("sha256:") + ".json"
    assert entry["Config"] == config_name
    assert entry["RepoTags"] == [TAG]
    [layer_name] = entry["Layers"]
    assert read_member(archive, layer_name) == layer.read_bytes()


def test_image_id_is_the_hash_of_the_config(layer: Path, tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    image_id = base_image.save_archive(layer, TAG, EPOCH, archive)
    config = read_member(archive, image_id.removeprefix("sha256:") + ".json")
    assert "sha256:" + hashlib.sha256(config).hexdigest() == image_id
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    assert diff_ids == ["sha256:" + hashlib.sha256(layer.read_bytes()).hexdigest()]


def test_config_created_is_the_epoch_in_iso_form(layer: Path, tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    image_id = base_image.save_archive(layer, TAG, EPOCH, archive)
    config = json.loads(read_member(archive, image_id.removeprefix("sha256:") + ".json"))
    assert config["created"] == "2026-11-01T00:00:00Z"
    assert [h["created"] for h in config["history"]] == ["2026-11-01T00:00:00Z"]


def test_every_archive_member_has_the_epoch_as_mtime(layer: Path, tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    base_image.save_archive(layer, TAG, 1_000_000_000, archive)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    assert len(members) == 3
    assert {m.mtime for m in members} == {1_000_000_000}
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}


def test_host_mirror_reads_a_one_line_entry_whose_first_component_is_not_main(
    tmp_path: Path,
) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text("deb http://x.example/debian bookworm contrib main\n")
    assert base_image.host_mirror([sources]) == "http://x.example/debian"


def test_the_image_config_names_the_platform_it_is_given() -> None:
    arm64 = base_image.image_config("sha256:" + "0" * 64, EPOCH, Platform("arm64"))
    assert (arm64["os"], arm64["architecture"], arm64["variant"]) == ("linux", "arm64", "v8")
    amd64 = base_image.image_config("sha256:" + "0" * 64, EPOCH)
    assert (amd64["architecture"], "variant" in amd64) == ("amd64", False)


def test_another_architecture_than_the_hosts_gets_a_tag_of_its_own() -> None:
    native = Platform.native()
    other = Platform("arm64" if native.architecture == "amd64" else "amd64")
    options = base_image.parse(["--arch", other.architecture], {"NER_DEBIAN_MIRROR": "http://m/d"})
    assert options.platform == other
    assert options.tag == f"{base_image.DEFAULT_TAG}-{other.architecture}"
    assert base_image.default_tag(native, native) == base_image.DEFAULT_TAG


def test_an_architecture_we_do_not_build_is_refused() -> None:
    with pytest.raises(CheckFailed, match="linux/amd64 and linux/arm64"):
        base_image.parse(["--arch", "s390x"], {"NER_DEBIAN_MIRROR": "http://m/d"})


# --- the Debian archive record --------------------------------------------------------------

RECORD = ArchiveRecord(
    EPOCH,
    "arm64",
    (Release("bookworm", "2026-07-11T10:16:37Z", "oldstable", "12.15"),),
    (Package("libc6", "2.36-9+deb12u14", "arm64"), Package("tzdata", "2026f-0+deb12u1", "all")),
    ("http://m/debian", "http://m/debian-security"),
)


def config_of(archive: Path, image_id: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(read_member(archive, image_id.split(":")[1] + ".json"))
    return config


def test_the_archive_record_goes_into_the_config_labels(layer: Path, tmp_path: Path) -> None:
    labels = debian_archive.to_labels(RECORD)
    archive = tmp_path / "image.tar"
    image_id = base_image.save_archive(layer, TAG, EPOCH, archive, labels=labels)
    config = config_of(archive, image_id)
    assert debian_archive.from_labels(config["config"]["Labels"]) == RECORD


def test_the_image_id_changes_with_one_recorded_version(layer: Path, tmp_path: Path) -> None:
    labels = debian_archive.to_labels(RECORD)
    other = replace(RECORD, packages=(replace(RECORD.packages[0], version="2.36-9+deb12u13"),))
    first = base_image.save_archive(layer, TAG, EPOCH, tmp_path / "1.tar", labels=labels)
    again = base_image.save_archive(layer, TAG, EPOCH, tmp_path / "2.tar", labels=labels)
    changed = base_image.save_archive(
        layer, TAG, EPOCH, tmp_path / "3.tar", labels=debian_archive.to_labels(other)
    )
    assert first == again != changed


def test_the_image_id_does_not_depend_on_the_mirror(layer: Path, tmp_path: Path) -> None:
    moved = replace(RECORD, mirrors=("http://snapshot.example/debian/20261127T021032Z",))
    one = base_image.save_archive(
        layer, TAG, EPOCH, tmp_path / "1.tar", labels=debian_archive.to_labels(RECORD)
    )
    two = base_image.save_archive(
        layer, TAG, EPOCH, tmp_path / "2.tar", labels=debian_archive.to_labels(moved)
    )
    assert one == two


def test_a_replay_from_a_record_file_takes_its_epoch_and_architecture(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text(debian_archive.to_json(RECORD))
    options = base_image.parse(
        ["--replay", str(path), "--epoch", "5"], {"NER_DEBIAN_MIRROR": "http://m/d"}
    )
    assert options.replay == RECORD
    assert (options.epoch, options.platform) == (EPOCH, Platform("arm64"))
    assert options.tag == base_image.default_tag(Platform("arm64"), Platform.native())


@pytest.mark.host
def test_a_replay_of_something_that_is_neither_a_file_nor_an_image_says_what_to_pass() -> None:
    with pytest.raises(CheckFailed, match="is not an image in the engine") as refused:
        base_image.replay_source("ner-app-base:no-such-tag-here", Docker.from_env())
    assert "takes a record JSON written by `nox -s base-image`" in str(refused.value)


def test_the_record_file_defaults_to_build_base_image_tag_json() -> None:
    options = base_image.parse(["--tag", "x/y:z"], {"NER_DEBIAN_MIRROR": "http://m/d"})
    assert options.record_file is None
    assert debian_archive.record_path(options.tag, paths.BASE_RECORDS) == (
        paths.ROOT / "build" / "base-image" / "x_y_z.json"
    )
