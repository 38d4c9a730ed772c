"""A Python base image made from Debian packages with debuerreotype, for hosts with no registry.

The root filesystem is clamped to a fixed epoch and loaded as a `docker save` archive whose
config has a fixed creation time, so the same Debian archive state gives the same image ID.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ner_build import console, process
from ner_build.digest import sha256_of
from ner_build.docker import Docker
from ner_build.errors import CheckFailed
from ner_build.normalize import iso
from ner_build.paths import DOCKERFILE
from ner_build.platforms import Platform, check_runnable

SUITE = "bookworm"
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


@dataclass(frozen=True)
class BaseImageOptions:
    mirror: str
    security_mirror: str
    epoch: int
    tag: str
    docker: Docker
    platform: Platform = AMD64


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


def image_config(diff_id: str, epoch: int, platform: Platform = AMD64) -> dict[str, object]:
    """An OCI/Docker image config for one layer, created at the epoch."""
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
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {"created": created, "created_by": f"debuerreotype {SUITE} + {' '.join(PACKAGES)}"}
        ],
    }


def save_archive(layer: Path, tag: str, epoch: int, out: Path, platform: Platform = AMD64) -> str:
    """Write a `docker save`-format archive of the layer; return the image ID it will load as."""
    diff_id = "sha256:" + sha256_of(layer)
    config = json.dumps(
        image_config(diff_id, epoch, platform), sort_keys=True, separators=(",", ":")
    ).encode()
    config_name = hashlib.sha256(config).hexdigest()
    layer_name = f"{diff_id.removeprefix('sha256:')}/layer.tar"
    manifest = json.dumps(
        [{"Config": f"{config_name}.json", "RepoTags": [tag], "Layers": [layer_name]}]
    )
    with tarfile.open(out, "w") as archive:
        _add_bytes(archive, f"{config_name}.json", config, epoch)
        _add_bytes(archive, "manifest.json", manifest.encode(), epoch)
        archive.add(layer, arcname=layer_name, filter=lambda info: _clamp(info, epoch))
    return f"sha256:{config_name}"


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes, epoch: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), epoch
    archive.addfile(info, io.BytesIO(data))


def _clamp(info: tarfile.TarInfo, epoch: int) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = epoch, 0, 0, "", ""
    return info


def build_rootfs(options: BaseImageOptions, workdir: Path) -> Path:
    """Run debuerreotype: a minimal bookworm with Python, as one uncompressed tar."""
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
    _step("debuerreotype-apt-get", rootfs, "dist-upgrade", "-yqq")
    _step("debuerreotype-apt-get", rootfs, "install", "-yqq", "--no-install-recommends", *PACKAGES)
    _step("debuerreotype-apt-get", rootfs, "clean")
    _step("debuerreotype-tar", rootfs, layer)
    return layer


def _step(*args: str | Path) -> None:
    process.stream(args, env={"DEBIAN_FRONTEND": "noninteractive"})


def make(options: BaseImageOptions) -> str:
    """Build, load and tag the base image; return its image ID."""
    options.docker.check_engine()
    check_runnable(options.platform)  # debootstrap runs the target's programs in the chroot
    with tempfile.TemporaryDirectory(prefix="ner-app-base-") as tmp:
        layer = build_rootfs(options, Path(tmp))
        archive = Path(tmp, "image.tar")
        image_id = save_archive(layer, options.tag, options.epoch, archive, options.platform)
        options.docker.stream("load", "--input", str(archive))
    return image_id


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
    parser.add_argument("--docker", default=env.get("DOCKER", "docker"), help="[DOCKER]")
    args = parser.parse_args(argv)
    mirror = args.mirror or host_mirror()
    security = args.security_mirror or security_mirror_for(mirror)
    native = Platform.native()
    target = Platform.parse(f"linux/{args.arch}") if args.arch else native
    tag = args.tag or default_tag(target, native)
    docker = Docker.from_string(args.docker)
    return BaseImageOptions(mirror, security, args.epoch, tag, docker, target)


def command(options: BaseImageOptions) -> None:
    image_id = make(options)
    print(f"base image {options.tag} {image_id}")
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
