"""A Python base image made from Debian packages with debuerreotype, for hosts with no registry.

The root filesystem is clamped to a fixed epoch and loaded as a `docker save` archive whose
config has a fixed creation time, so the same Debian archive state gives the same image ID.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from ner_build import console, process
from ner_build.build import debian_archive
from ner_build.build.debian_archive import ArchiveRecord
from ner_build.digest import canonical_json, digest_of_file
from ner_build.engine.docker import Docker
from ner_build.engine.platforms import Platform, check_runnable
from ner_build.errors import CheckFailed
from ner_build.image import archive as image_archive
from ner_build.image.normalize import iso
from ner_build.paths import BASE_RECORDS, DOCKERFILE

SUITE = "bookworm"
SUITES = (SUITE, f"{SUITE}-updates", f"{SUITE}-security")
PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEFAULT_TAG = "ner-app-base:bookworm-python3"
# 2026-11-01T00:00:00Z: every file time in the rootfs and the image's `created`.
# Bump it with the suite.
DEFAULT_EPOCH = 1793491200
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
PIN_LINE = re.compile(r"^ARG BASE_IMAGE=(\S+)", re.M)
UNAVAILABLE_HINT = (
    "On a host with no registry, build a base image from Debian packages "
    "with `nox -s base-image` and pass it with --base-image / NER_BASE_IMAGE."
)
AMD64 = Platform("amd64")
HOST_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
# apt's planner log numbers packages by their place in the whole index (APT-ID), so it changes
# with the archive even when the installed packages do not; the other logs debuerreotype drops.
TAR_EXCLUDES = ("./var/log/apt/eipp.log.xz",)


@dataclass(frozen=True)
class BaseImageOptions:
    mirror: str
    security_mirror: str
    epoch: int
    tag: str
    docker: Docker
    platform: Platform = AMD64
    record_file: Path | None = None
    replay: ArchiveRecord | None = None
    replay_from: str = "RECORD"  # as the user named it, for messages


def default_tag(target: Platform, native: Platform) -> str:
    """DEFAULT_TAG for the host's platform; another platform's base gets its name appended, so
    both can sit in an engine that keeps one image per tag."""
    return DEFAULT_TAG if target == native else f"{DEFAULT_TAG}-{target.architecture}"


def pinned(dockerfile: Path = DOCKERFILE) -> str:
    """The BASE_IMAGE default written in the Dockerfile (the one place it is pinned)."""
    match = PIN_LINE.search(dockerfile.read_text())
    if not match:
        raise CheckFailed(f"{dockerfile} has no `ARG BASE_IMAGE=...` line.")
    return match.group(1)


def host_mirror(sources: Sequence[Path] = HOST_SOURCES) -> str:
    """The Debian mirror the host's apt uses (deb822 `URIs:` or a one-line `deb` entry)."""
    for path in sources:
        if not path.exists():
            continue
        text = path.read_text()
        match = re.search(r"^URIs:\s*(\S+)", text, re.M) or re.search(
            r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+\s+\S", text, re.M
        )
        if match:
            return match.group(1)
    raise CheckFailed(
        "No Debian mirror found in the host's apt configuration; pass --mirror URL "
        "(or NER_DEBIAN_MIRROR), e.g. a Debian mirror you can reach."
    )


def security_mirror_for(mirror: str) -> str:
    """Debian's convention: the security archive sits beside the main one as debian-security."""
    return mirror.rstrip("/") + "-security"


def sources_entry(mirror: str, security_mirror: str) -> str:
    """The deb822 sources the image's apt uses: the archive, its updates and security updates."""
    return (
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE} {SUITE}-updates\n"
        f"Components: main\nSigned-By: {KEYRING}\n\n"
        f"Types: deb\nURIs: {security_mirror}\nSuites: {SUITE}-security\n"
        f"Components: main\nSigned-By: {KEYRING}\n"
    )


def image_config(
    diff_id: str, epoch: int, platform: Platform = AMD64, labels: Mapping[str, str] | None = None
) -> dict[str, object]:
    """An OCI/Docker image config for one layer, created at the epoch, with the labels (the
    Debian archive record)."""
    created = iso(epoch)
    variant = {"variant": platform.variant} if platform.variant else {}
    return {
        "architecture": platform.architecture,
        **variant,
        "os": platform.os,
        "created": created,
        "config": {
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
            ],
            "Cmd": ["python3"],
            **({"Labels": dict(sorted(labels.items()))} if labels else {}),
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {"created": created, "created_by": f"debuerreotype {SUITE} + {' '.join(PACKAGES)}"}
        ],
    }


def save_archive(
    layer: Path,
    tag: str,
    epoch: int,
    out: Path,
    platform: Platform = AMD64,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Write a `docker save`-format archive of the layer; return the image ID it will load as."""
    diff_id = digest_of_file(layer)
    config = canonical_json(image_config(diff_id, epoch, platform, labels))
    return image_archive.write(out, config, [layer], [diff_id], [tag], mtime=epoch)


def build_rootfs(options: BaseImageOptions, workdir: Path) -> tuple[Path, ArchiveRecord]:
    """Run debuerreotype: a minimal bookworm with Python, as one uncompressed tar, and the
    archive state it was made from (on a replay: checked to be the replayed record)."""
    for tool in ("debuerreotype-init", "debuerreotype-tar"):
        if not shutil.which(tool):
            raise CheckFailed(f"{tool} is missing; install it: `apt-get install debuerreotype`.")
    rootfs, layer = workdir / "rootfs", workdir / "rootfs.tar"
    arch = options.platform.architecture  # Debian names amd64 and arm64 as Docker does
    _step("debuerreotype-init", "--non-debian", "--keyring", KEYRING, "--arch", arch,
          rootfs, SUITE, options.mirror)  # fmt: skip
    (rootfs / "debuerreotype-epoch").write_text(f"{options.epoch}\n")
    sources = sources_entry(options.mirror, options.security_mirror)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(sources)
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    _step("debuerreotype-minimizing-config", rootfs)
    _step("debuerreotype-apt-get", rootfs, "update", "-qq")
    with replay_pins(rootfs, options.replay, options.replay_from):
        _step("debuerreotype-apt-get", rootfs, "dist-upgrade", "-yqq")
        _step("debuerreotype-apt-get", rootfs, "install", "-yqq", "--no-install-recommends",
              *PACKAGES)  # fmt: skip
        _step("debuerreotype-apt-get", rootfs, "clean")
    mirrors = (options.mirror, options.security_mirror)
    record = debian_archive.read_rootfs(rootfs, SUITES, options.epoch, arch, mirrors)
    if options.replay:
        record = replayed(rootfs, options.replay, record)
    excludes = [arg for pattern in TAR_EXCLUDES for arg in ("--exclude", pattern)]
    _step("debuerreotype-tar", *excludes, rootfs, layer)
    return layer, record


def replay_pins(
    rootfs: Path, record: ArchiveRecord | None, source: str
) -> AbstractContextManager[None]:
    """On a replay: refuse before anything is installed unless the indexes serve every
    recorded version, then pin apt to them while packages are installed."""
    if record is None:
        return nullcontext()
    lists = rootfs / debian_archive.LISTS
    indexes = (debian_archive.read_index(p) for p in debian_archive.index_files(lists))
    debian_archive.check_available(record, debian_archive.served(indexes), source)
    return debian_archive.pinned(rootfs, record)


def replayed(rootfs: Path, record: ArchiveRecord, found: ArchiveRecord) -> ArchiveRecord:
    """Check the installed set is exactly the record; the image carries the record (its
    Release dates, the mirrors this build used)."""
    debian_archive.check_installed(record, found.packages)
    moved = debian_archive.release_changes(record, found.releases)
    if moved:
        console.step("Release files changed since the record, every recorded version still "
                     "served: " + "; ".join(moved))  # fmt: skip
    return ArchiveRecord(record.epoch, record.architecture, record.releases, found.packages,
                         found.mirrors)  # fmt: skip


def _step(*args: str | Path) -> None:
    process.stream(args, env={"DEBIAN_FRONTEND": "noninteractive"})


def make(options: BaseImageOptions) -> tuple[str, ArchiveRecord]:
    """Build, load and tag the base image; return its image ID and archive record."""
    options.docker.check_engine()
    check_runnable(options.platform)  # debootstrap runs the target's programs in the chroot
    with tempfile.TemporaryDirectory(prefix="ner-app-base-") as tmp:
        layer, record = build_rootfs(options, Path(tmp))
        archive = Path(tmp, "image.tar")
        labels = debian_archive.to_labels(record)
        image_id = save_archive(
            layer, options.tag, options.epoch, archive, options.platform, labels
        )
        options.docker.stream("load", "--input", str(archive))
    return image_id, record


def replay_source(source: str, docker: Docker) -> ArchiveRecord:
    """A record from a JSON file, or from the labels of an image in the engine."""
    path = Path(source)
    if path.is_file():
        return debian_archive.from_json(path.read_text(), str(path))
    return debian_archive.of_image(
        docker,
        source,
        f"--replay {source} takes a record JSON written by `nox -s base-image` or a base image "
        "it built",
    )


def parse(argv: Sequence[str], env: Mapping[str, str]) -> BaseImageOptions:
    parser = argparse.ArgumentParser(prog="nox -s base-image --", description=__doc__)
    parser.add_argument(
        "--mirror",
        default=env.get("NER_DEBIAN_MIRROR"),
        help="Debian mirror URL (default: the host's apt) [NER_DEBIAN_MIRROR]",
    )
    parser.add_argument(
        "--security-mirror",
        default=env.get("NER_DEBIAN_SECURITY_MIRROR"),
        help="default: MIRROR-security [NER_DEBIAN_SECURITY_MIRROR]",
    )
    parser.add_argument(
        "--epoch",
        type=int,
        default=int(env.get("NER_BASE_EPOCH", DEFAULT_EPOCH)),
        help="file times and created, as Unix time [NER_BASE_EPOCH]",
    )
    parser.add_argument(
        "--arch",
        default=env.get("NER_BASE_ARCH"),
        help="amd64 or arm64 (default: the host's); another than the host's is built under "
        "QEMU emulation (`tools/provision-debian arm64`) [NER_BASE_ARCH]",
    )
    parser.add_argument(
        "--tag",
        default=env.get("NER_BASE_IMAGE"),
        help=f"default: {DEFAULT_TAG}, with -ARCH appended for another architecture than the "
        "host's [NER_BASE_IMAGE]",
    )
    parser.add_argument(
        "--record",
        type=Path,
        help="where to write the archive record JSON (default: build/base-image/TAG.json)",
    )
    parser.add_argument(
        "--replay",
        metavar="RECORD",
        help="rebuild exactly a recorded archive state: a record JSON or a base image whose "
        "labels hold one; its epoch and architecture win over --epoch and --arch",
    )
    parser.add_argument("--docker", default=env.get("DOCKER", "docker"), help="[DOCKER]")
    args = parser.parse_args(argv)
    mirror = args.mirror or host_mirror()
    security = args.security_mirror or security_mirror_for(mirror)
    docker = Docker.from_string(args.docker)
    replay = replay_source(args.replay, docker) if args.replay else None
    native = Platform.native()
    arch = replay.architecture if replay else args.arch
    target = Platform.parse(f"linux/{arch}") if arch else native
    tag = args.tag or default_tag(target, native)
    epoch = replay.epoch if replay else args.epoch
    return BaseImageOptions(
        mirror, security, epoch, tag, docker, target, args.record, replay, args.replay or "RECORD"
    )


def command(options: BaseImageOptions) -> None:
    image_id, record = make(options)
    path = options.record_file or debian_archive.record_path(options.tag, BASE_RECORDS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(debian_archive.to_json(record))
    print(f"base image {options.tag} {image_id}")
    releases = ", ".join(f"{r.codename} {r.date}" for r in record.releases)
    print(f"Debian archive: {releases}; {len(record.packages)} packages, "
          f"sha256 {record.packages_sha256}")  # fmt: skip
    print(f"archive record: {path} (rebuild it: nox -s base-image -- --replay {path})")
    print(
        f"use it with: nox -s build -- --base-image {options.tag}"
        f"   (or NER_BASE_IMAGE={options.tag})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    return console.run_main(
        lambda: command(parse(sys.argv[1:] if argv is None else argv, os.environ))
    )


if __name__ == "__main__":
    sys.exit(main())
