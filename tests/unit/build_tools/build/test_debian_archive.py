"""The Debian archive record, on real (trimmed) apt lists and dpkg status from a bookworm rootfs."""

import io
import json
import os
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from ner_build.build import base_image, debian_archive
from ner_build.build.debian_archive import ArchiveRecord, Package, Release
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed, VerificationFailed

from ..support import DOCKER

DATA = Path(__file__).parents[1] / "data" / "debian"
SUITES = ("bookworm", "bookworm-security")
EPOCH = 1793491200


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A root file system's apt lists and dpkg status, as apt and dpkg left them."""
    lists = tmp_path / debian_archive.LISTS
    lists.mkdir(parents=True)
    shutil.copy(DATA / "bookworm_InRelease", lists / "deb.example_debian_dists_bookworm_InRelease")
    shutil.copy(
        DATA / "bookworm-security_Release",
        lists / "deb.example_debian-security_dists_bookworm-security_Release",
    )
    shutil.copy(
        DATA / "bookworm_main_binary-amd64_Packages",
        lists / "deb.example_debian_dists_bookworm_main_binary-amd64_Packages",
    )
    shutil.copy(
        DATA / "bookworm-security_main_binary-amd64_Packages.lz4",
        lists
        / "deb.example_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4",
    )
    status = tmp_path / debian_archive.STATUS
    status.parent.mkdir(parents=True)
    shutil.copy(DATA / "status", status)
    return tmp_path


@pytest.fixture
def record(rootfs: Path) -> ArchiveRecord:
    return debian_archive.read_rootfs(rootfs, SUITES, EPOCH, "amd64", ["http://deb.example/d"])


def offered(rootfs: Path) -> dict[tuple[str, str], set[str]]:
    lists = rootfs / debian_archive.LISTS
    files = debian_archive.index_files(lists)
    return debian_archive.served(debian_archive.read_index(p) for p in files)


def test_a_signed_inrelease_gives_its_suite_codename_version_and_date() -> None:
    release = debian_archive.read_release(DATA / "bookworm_InRelease", "bookworm")
    assert release == Release("bookworm", "2026-07-11T10:16:37Z", "oldstable", "12.15")


def test_an_unsigned_release_file_is_read_the_same_way() -> None:
    release = debian_archive.read_release(DATA / "bookworm-security_Release", "x")
    assert release == Release(
        "bookworm-security", "2026-11-26T21:03:35Z", "oldstable-security", "12"
    )


def test_a_file_without_a_date_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Release").write_text("Origin: Debian\nSuite: oldstable\n")
    with pytest.raises(CheckFailed, match="no Date field"):
        debian_archive.read_release(tmp_path / "Release", "bookworm")


def test_the_status_file_gives_name_version_and_architecture_of_each_installed_package() -> None:
    packages = debian_archive.read_status((DATA / "status").read_text())
    assert [str(p) for p in packages] == [
        "base-files:amd64=12.4+deb12u15",
        "ca-certificates:all=20250419~deb12u2",
        "libc6:amd64=2.36-9+deb12u14",
        "libssl3:amd64=3.0.22-1~deb12u2",
        "python3:amd64=3.11.2-1+b1",
        "tzdata:all=2026f-0+deb12u1",
    ]


def test_a_removed_package_whose_configuration_stays_is_not_installed() -> None:
    status = (DATA / "status").read_text()
    text = status.replace(
        "Package: tzdata\nStatus: install ok installed",
        "Package: tzdata\nStatus: deinstall ok config-files",
    )
    assert text != status
    assert "tzdata" not in [p.name for p in debian_archive.read_status(text)]


def test_the_rootfs_record_holds_every_suite_in_order(record: ArchiveRecord) -> None:
    assert [r.codename for r in record.releases] == list(SUITES)
    assert len(record.packages) == 6
    assert record.mirrors == ("http://deb.example/d",)


def test_a_suite_without_a_release_file_says_to_run_apt_get_update(rootfs: Path) -> None:
    with pytest.raises(CheckFailed, match=r"bookworm-updates .*apt-get update"):
        debian_archive.read_rootfs(rootfs, ("bookworm-updates",), EPOCH, "amd64")


def test_labels_round_trip_to_the_same_record(record: ArchiveRecord) -> None:
    labels = debian_archive.to_labels(record)
    assert labels[debian_archive.LABEL_RELEASES] == (
        "bookworm=2026-07-11T10:16:37Z bookworm-security=2026-11-26T21:03:35Z"
    )
    assert debian_archive.from_labels(labels) == record


def test_labels_do_not_name_the_mirror(record: ArchiveRecord) -> None:
    labels = debian_archive.to_labels(record)
    assert not any("deb.example" in value for value in labels.values())
    other = replace(record, mirrors=("http://elsewhere/debian",))
    assert debian_archive.to_labels(other) == labels


def test_the_package_sha256_changes_with_one_version(record: ArchiveRecord) -> None:
    first = record.packages[0]
    changed = replace(record, packages=(replace(first, version="0"), *record.packages[1:]))
    assert changed.packages_sha256 != record.packages_sha256


def test_an_image_without_a_record_has_none() -> None:
    assert debian_archive.from_labels({"org.opencontainers.image.title": "x"}) is None
    assert debian_archive.from_labels(None) is None


def test_edited_package_labels_are_refused(record: ArchiveRecord) -> None:
    labels = debian_archive.to_labels(record)
    labels[debian_archive.LABEL_PACKAGES] = labels[debian_archive.LABEL_PACKAGES].replace(
        "libc6:amd64=2.36-9+deb12u14", "libc6:amd64=2.36-9+deb12u7"
    )
    with pytest.raises(VerificationFailed, match="edited"):
        debian_archive.from_labels(labels)


def test_json_round_trips_with_the_mirrors(record: ArchiveRecord) -> None:
    text = debian_archive.to_json(record)
    assert json.loads(text)["packages_sha256"] == record.packages_sha256
    back = debian_archive.from_json(text)
    assert back == record
    assert back.mirrors == record.mirrors


def test_a_json_that_is_not_a_record_says_what_it_expected() -> None:
    with pytest.raises(CheckFailed, match="not an archive record written by `nox -s base-image`"):
        debian_archive.from_json('{"epoch": 1}', "x.json")


def test_compressed_and_plain_indexes_are_both_read(rootfs: Path) -> None:
    served = offered(rootfs)
    assert served["libc6", "amd64"] == {"2.36-9+deb12u14", "2.36-9+deb12u7"}  # main and security
    assert served["openssl", "amd64"] == {"3.0.22-1~deb12u2"}  # only in the lz4 index
    assert served["tzdata", "all"] == {"2026b-0+deb12u1", "2026f-0+deb12u1"}


def test_a_record_the_indexes_serve_passes(record: ArchiveRecord, rootfs: Path) -> None:
    debian_archive.check_available(record, offered(rootfs))


def test_a_version_the_archive_no_longer_serves_is_refused_with_both_versions_and_a_way_out(
    record: ArchiveRecord, rootfs: Path
) -> None:
    served = offered(rootfs)
    doctored = replace(
        record,
        packages=tuple(
            replace(p, version="3.0.11-1~deb12u2") if p.name == "libssl3" else p
            for p in record.packages
        ),
    )
    with pytest.raises(CheckFailed) as refused:
        debian_archive.check_available(doctored, served, "build/base-image/x.json")
    message = str(refused.value)
    assert "no longer serves 1 recorded package version(s)" in message
    assert "libssl3 (amd64): recorded 3.0.11-1~deb12u2, served now 3.0.22-1~deb12u2" in message
    assert (
        "--replay build/base-image/x.json --mirror http://snapshot.debian.org/archive/debian/20260711T101637Z"
        in message
    )
    assert (
        "--security-mirror http://snapshot.debian.org/archive/debian-security/20261126T210335Z"
        in message
    )


def test_a_package_the_archive_does_not_have_at_all_says_none(record: ArchiveRecord) -> None:
    with pytest.raises(
        CheckFailed, match=r"python3 \(amd64\): recorded 3.11.2-1\+b1, served now none"
    ):
        debian_archive.check_available(record, {})


def test_the_pin_file_pins_each_recorded_version_above_any_other(record: ArchiveRecord) -> None:
    pins = debian_archive.pin_file(record)
    stanzas = pins.split("\n\n")
    assert len(stanzas) == len(record.packages)
    assert stanzas[0] == "Package: base-files\nPin: version 12.4+deb12u15\nPin-Priority: 1001"
    assert "Package: ca-certificates\nPin: version 20250419~deb12u2\nPin-Priority: 1001" in pins


def test_an_installed_set_equal_to_the_record_passes(record: ArchiveRecord) -> None:
    debian_archive.check_installed(record, reversed(record.packages))


def test_an_installed_set_that_differs_names_every_difference(record: ArchiveRecord) -> None:
    installed = [p for p in record.packages if p.name != "tzdata"]
    installed = [replace(p, version="9") if p.name == "libc6" else p for p in installed]
    installed.append(Package("perl-base", "5.36.0-7+deb12u3", "amd64"))
    assert debian_archive.installed_differences(record, installed) == [
        "missing: tzdata:all=2026f-0+deb12u1",
        "not recorded: perl-base:amd64=5.36.0-7+deb12u3",
        "version: libc6:amd64 is 9, recorded 2.36-9+deb12u14",
    ]
    with pytest.raises(VerificationFailed, match="another package set than the record"):
        debian_archive.check_installed(record, installed)


def test_release_changes_name_the_suites_whose_date_moved(record: ArchiveRecord) -> None:
    now = [record.releases[0], replace(record.releases[1], date="2026-12-01T00:00:00Z")]
    assert debian_archive.release_changes(record, now) == [
        "bookworm-security: recorded 2026-11-26T21:03:35Z, now 2026-12-01T00:00:00Z"
    ]


def test_the_record_file_is_named_for_the_tag() -> None:
    path = debian_archive.record_path("ner-app-base:bookworm-python3", Path("build/base-image"))
    assert path == Path("build/base-image/ner-app-base_bookworm-python3.json")


def test_the_pins_are_gone_afterwards_and_their_folder_keeps_its_time(
    record: ArchiveRecord, tmp_path: Path
) -> None:
    folder = tmp_path / debian_archive.PIN_FILE.parent
    folder.mkdir(parents=True)
    os.utime(folder, (1685023897, 1685023897))  # apt's package time, older than the epoch
    with debian_archive.pinned(tmp_path, record):
        assert (tmp_path / debian_archive.PIN_FILE).read_text() == debian_archive.pin_file(record)
        assert folder.stat().st_mtime != 1685023897  # the control: writing the pins moved it
    assert list(folder.iterdir()) == []
    assert folder.stat().st_mtime == 1685023897


def test_the_pins_are_removed_when_the_install_fails(record: ArchiveRecord, tmp_path: Path) -> None:
    (tmp_path / debian_archive.PIN_FILE.parent).mkdir(parents=True)
    with pytest.raises(RuntimeError), debian_archive.pinned(tmp_path, record):
        raise RuntimeError("apt-get failed")
    assert not (tmp_path / debian_archive.PIN_FILE).exists()


def loaded_base(tmp_path: Path, tag: str, labels: dict[str, str] | None) -> Docker:
    """A one-file image with these labels, loaded into the real engine as tag."""
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        tar.addfile(tarfile.TarInfo("etc/hello"), io.BytesIO(b""))
    base_image.save_archive(layer, tag, EPOCH, tmp_path / "base.tar", labels=labels)
    docker = Docker.from_string(DOCKER)
    docker.load(tmp_path / "base.tar")
    return docker


@pytest.mark.host
def test_an_images_record_comes_from_its_labels(tmp_path: Path, record: ArchiveRecord) -> None:
    tag = "ner-app-test-archive:labelled"
    docker = loaded_base(tmp_path, tag, debian_archive.to_labels(record))
    try:
        assert debian_archive.of_image(docker, tag, "do this") == record
    finally:
        docker.remove_image(tag)


@pytest.mark.host
def test_an_image_without_a_record_or_no_image_is_refused_saying_what_to_do(
    tmp_path: Path,
) -> None:
    tag = "ner-app-test-archive:unlabelled"
    docker = loaded_base(tmp_path, tag, None)
    try:
        with pytest.raises(CheckFailed, match=r"no Debian archive record .*: rebuild it\."):
            debian_archive.of_image(docker, tag, "rebuild it")
    finally:
        docker.remove_image(tag)
    with pytest.raises(CheckFailed, match=r"is not an image in the engine .*: rebuild it\."):
        debian_archive.of_image(docker, tag, "rebuild it")
