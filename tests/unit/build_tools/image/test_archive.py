"""Reading saved images in both formats. The OCI archives with gzip-compressed layers are made
by skopeo (a real tool, provisioned by tools/provision-debian registry), not by hand."""

import gzip
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from ner_build.digest import digest_of
from ner_build.errors import CheckFailed
from ner_build.image import archive as image_archive
from ner_build.image import compare, normalize

from .test_normalize import TAGS, base_layer, rich_layer, save_archive


def skopeo_oci(docker_archive: Path, out: Path) -> Path:
    """Convert a docker-archive to an OCI archive with skopeo, which gzips every layer."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.fail("skopeo is missing: run `tools/provision-debian registry` (Debian: skopeo)")
    subprocess.run(
        [skopeo, "copy", "--quiet", f"docker-archive:{docker_archive}", f"oci-archive:{out}"],
        check=True,
    )
    return out


@pytest.fixture
def docker_archive(tmp_path: Path) -> Path:
    return save_archive(tmp_path / "docker.tar", [base_layer(), rich_layer()])


@pytest.fixture
def oci_archive(docker_archive: Path, tmp_path: Path) -> Path:
    return skopeo_oci(docker_archive, tmp_path / "oci.tar")


def layer_bytes(image: image_archive.SavedImage, index: int) -> bytes:
    with image.open_layer(index) as stream:
        return stream.read()


def raw_member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as archive:
        return image_archive.member(archive, name).read()


@pytest.mark.host
def test_skopeo_writes_an_oci_layout_with_gzip_compressed_layers(oci_archive: Path) -> None:
    image = image_archive.read(oci_archive)
    with tarfile.open(oci_archive) as archive:
        assert "manifest.json" not in archive.getnames()
    assert all(raw_member(oci_archive, n)[:2] == b"\x1f\x8b" for n in image.layer_names)


@pytest.mark.host
def test_both_formats_give_the_same_config_and_uncompressed_layers(
    docker_archive: Path, oci_archive: Path
) -> None:
    docker, oci = image_archive.read(docker_archive), image_archive.read(oci_archive)
    # skopeo's conversion to OCI drops the null OnBuild; nothing else in the config changes
    assert oci.config["config"] == {k: v for k, v in docker.config["config"].items() if v}
    assert {k: v for k, v in oci.config.items() if k != "config"} == {
        k: v for k, v in docker.config.items() if k != "config"
    }
    assert len(oci.layer_names) == 2
    assert [layer_bytes(oci, i) for i in range(2)] == [base_layer(), rich_layer()]


@pytest.mark.host
def test_both_formats_normalize_to_the_same_image_id(
    docker_archive: Path, oci_archive: Path, tmp_path: Path
) -> None:
    ids = {
        normalize.normalize_archive(path, tmp_path / f"out-{n}.tar", 1_700_000_000, TAGS, 1)
        for n, path in enumerate((docker_archive, oci_archive))
    }
    assert len(ids) == 1


@pytest.mark.host
def test_compare_reads_an_oci_archive_like_a_docker_archive(
    docker_archive: Path, oci_archive: Path
) -> None:
    docker, oci = compare.read_saved(docker_archive), compare.read_saved(oci_archive)
    assert oci.layers == docker.layers
    assert list(compare.compare(docker, oci))[1:] == [
        "config differs, beyond timestamps",
        "  config.OnBuild: only in first",
    ]


def test_a_gzip_layer_read_through_decompressed_is_the_tar() -> None:
    with image_archive.decompressed(io.BytesIO(gzip.compress(rich_layer())), "l") as stream:
        assert stream.read() == rich_layer()


def test_a_zstd_layer_is_refused_with_what_to_do() -> None:
    zstd = io.BytesIO(image_archive.ZSTD_MAGIC + b"\x00" * 60)
    with (
        pytest.raises(CheckFailed, match="zstd-compressed"),
        image_archive.decompressed(zstd, "blobs/sha256/ab"),
    ):
        pass


def test_a_file_that_is_not_an_image_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(CheckFailed, match="not a readable image archive"):
        image_archive.read(tmp_path / "x.tar")


def test_an_archive_of_two_images_is_refused(docker_archive: Path, tmp_path: Path) -> None:
    manifest = json.loads(raw_member(docker_archive, "manifest.json"))
    two = tmp_path / "two.tar"
    with tarfile.open(docker_archive) as source, tarfile.open(two, "w") as target:
        for info in source:
            data = source.extractfile(info)
            if info.name == "manifest.json":
                payload = json.dumps(manifest * 2).encode()
                info.size, data = len(payload), io.BytesIO(payload)  # type: ignore[assignment]
            target.addfile(info, data)
    with pytest.raises(CheckFailed, match="holds 2 images"):
        image_archive.read(two)


def test_the_writer_gives_what_the_reader_reads_and_the_config_digest_as_id(tmp_path: Path) -> None:
    layers = []
    for index, data in enumerate([base_layer(), rich_layer()]):
        layers.append(tmp_path / f"{index}.tar")
        layers[-1].write_bytes(data)
    diff_ids = [digest_of(data) for data in (base_layer(), rich_layer())]
    config = b'{"rootfs":{"diff_ids":[]}}'
    out = tmp_path / "written.tar"
    image_id = image_archive.write(out, config, layers, diff_ids, ["ner-app:1"], mtime=7)
    assert image_id == digest_of(config)
    saved = image_archive.read(out)
    assert saved.config_bytes == config
    for index, data in enumerate([base_layer(), rich_layer()]):
        with saved.open_layer(index) as stream:
            assert stream.read() == data
    with tarfile.open(out) as archive:
        manifest = json.load(image_archive.member(archive, "manifest.json"))
        members = archive.getmembers()
    assert manifest[0]["RepoTags"] == ["ner-app:1"]
    assert {(m.mtime, m.mode, m.uid) for m in members} == {(7, 0o644, 0)}


def test_the_writer_refuses_layers_and_diff_ids_that_do_not_pair(tmp_path: Path) -> None:
    layer = tmp_path / "0.tar"
    layer.write_bytes(base_layer())
    with pytest.raises(ValueError, match="zip"):
        image_archive.write(tmp_path / "out.tar", b"{}", [layer], [], ["x:1"])
