"""What an image has installed, checked against poetry.lock and written as a CycloneDX SBOM.

The image reports its own Python distributions and the dpkg records of its Debian packages
(/var/lib/dpkg/status.d/, offline, as its own user); the app's and the model's versions and the
model's sha256 come from the image's labels. The base image's Debian archive record (its labels,
ner_build.build.debian_archive) can be added to the SBOM's metadata.

    python -m ner_build.build.inventory check IMAGE           # exit 1 unless it is exactly the lock
    python -m ner_build.build.inventory sbom IMAGE [FILE]     # CycloneDX JSON (default: stdout)
        [--base-image BASE]      # add the Debian archive state in BASE's labels to the metadata
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from packaging.utils import canonicalize_name

from ner_build import console
from ner_build.build import debian_archive, lockfile
from ner_build.build.debian_archive import ArchiveRecord, Package
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed
from ner_build.paths import LOCK

REPORT = """
import json, importlib.metadata as m
from packaging.markers import default_environment
def sha256(d):
    direct = json.loads(d.read_text("direct_url.json") or "{}")
    return direct.get("archive_info", {}).get("hashes", {}).get("sha256", "")
def license(d):
    meta = d.metadata
    short = meta.get("License-Expression") or meta.get("License") or ""
    if short and "\\n" not in short and len(short) <= 80:
        return short
    trove = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return trove[0].split(" :: ")[-1] if trove else ""
def texts(folder):
    import os
    if not os.path.isdir(folder):
        return {}
    return {n: open(os.path.join(folder, n)).read() for n in sorted(os.listdir(folder))}
def os_release():
    try:
        lines = open("/etc/os-release").read().splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {k: v.strip('"') for k, v in pairs}
print(json.dumps({"environment": default_environment(), "distributions": [
    {"name": d.metadata["Name"], "version": d.version, "sha256": sha256(d), "license": license(d)}
    for d in m.distributions()], "dpkg": texts("/var/lib/dpkg/status.d"),
    "os_release": os_release()}))
"""
LABEL = "io.ner-app.model"
OCI = "org.opencontainers.image"


@dataclass(frozen=True)
class Distribution:
    name: str
    version: str
    sha256: str
    license: str


@dataclass(frozen=True)
class Inventory:
    image_id: str
    labels: dict[str, str]
    environment: dict[str, str]
    distributions: list[Distribution]
    debian: list[Package] = field(default_factory=list)
    distro: str = ""  # purl's distro qualifier, from /etc/os-release: debian-12

    @property
    def model(self) -> str:
        return canonicalize_name(self.labels[f"{LABEL}.name"])


def read_image(docker: Docker, image: str) -> Inventory:
    """Ask the image, run offline, what it has installed."""
    image_id = docker.image_id(image)
    if image_id is None:
        raise CheckFailed(f"Image {image} is not in the engine: build it with `nox -s build`.")
    listing = ["run", "--rm", "--network=none", "--entrypoint=python", image, "-c", REPORT]
    report = json.loads(docker.run(*listing, check=True).stdout)
    return Inventory(
        image_id,
        docker.labels(image),
        report["environment"],
        [Distribution(**d) for d in report["distributions"]],
        dpkg_packages(report["dpkg"].values()),
        distro(report["os_release"]),
    )


def dpkg_packages(records: Iterable[str]) -> list[Package]:
    """The packages in dpkg status records (one file per package, as distroless keeps them)."""
    return sorted({p for text in records for p in debian_archive.read_status(text)})


def distro(os_release: Mapping[str, str]) -> str:
    """purl's distro qualifier for Debian packages, as scanners write it: debian-12."""
    name, version = os_release.get("ID", ""), os_release.get("VERSION_ID", "")
    return f"{name}-{version}" if name and version else name


def lock_differences(inventory: Inventory, lock: Path) -> list[str]:
    """How the installed distributions differ from the lock's main group plus app and model."""
    labels = inventory.labels
    expected: dict[str, str] = {
        canonicalize_name(name): version
        for name, version in lockfile.locked_main(lock, inventory.environment).items()
    }
    expected[canonicalize_name(labels[f"{OCI}.title"])] = labels[f"{OCI}.version"]
    expected[inventory.model] = labels[f"{LABEL}.version"]
    installed: dict[str, Distribution] = {
        canonicalize_name(d.name): d for d in inventory.distributions
    }
    problems = [
        f"missing: {name} {expected[name]}" for name in sorted(expected.keys() - installed.keys())
    ]
    problems += [
        f"not in the lock: {name} {installed[name].version}"
        for name in sorted(installed.keys() - expected.keys())
    ]
    for name in sorted(expected.keys() & installed.keys()):
        found = installed[name]
        if found.version != expected[name]:
            problems.append(f"version: {name} is {found.version}, the lock says {expected[name]}")
        if found.sha256 and found.sha256 not in _allowed_hashes(inventory, lock, name):
            problems.append(f"hash: {name} was installed from a wheel with sha256 {found.sha256}")
    return problems


def _allowed_hashes(inventory: Inventory, lock: Path, name: str) -> set[str]:
    if name == inventory.model:
        return {inventory.labels[f"{LABEL}.sha256"]}
    if name == canonicalize_name(inventory.labels[f"{OCI}.title"]):
        return set()  # built from this commit: no hash to hold it to
    return lockfile.locked_hashes(lock, name)


def sbom(inventory: Inventory, archive: ArchiveRecord | None = None) -> str:
    """A CycloneDX 1.6 SBOM: the image, its Python packages, the pipeline and its Debian
    packages, with the base's Debian archive state as metadata properties (deterministic)."""
    labels = inventory.labels
    created = datetime.strptime(labels[f"{OCI}.created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    image = Component(
        type=ComponentType.CONTAINER,
        name=labels[f"{OCI}.title"],
        version=labels[f"{OCI}.version"],
        bom_ref=inventory.image_id,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=inventory.image_id.split(":")[-1])],
    )
    components = [_component(d, inventory.model) for d in inventory.distributions]
    components += [_deb_component(p, inventory.distro) for p in inventory.debian]
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, inventory.image_id),
        metadata=BomMetaData(
            component=image, timestamp=created, properties=archive_properties(archive)
        ),
        components=components,
    )
    bom.register_dependency(image, components)
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


def archive_properties(archive: ArchiveRecord | None) -> list[Property]:
    """The base's Debian archive state: each suite's Release date, the package list's sha256."""
    if archive is None:
        return []
    properties = [
        Property(name=f"ner-app:debian:release:{r.codename}", value=r.date)
        for r in archive.releases
    ]
    properties.append(
        Property(name="ner-app:debian:packages:sha256", value=archive.packages_sha256)
    )
    properties.append(Property(name="ner-app:debian:epoch", value=str(archive.epoch)))
    return properties


def _deb_component(package: Package, distro: str) -> Component:
    qualifiers = {"arch": package.architecture, **({"distro": distro} if distro else {})}
    purl = PackageURL(
        "deb", namespace="debian", name=package.name, version=package.version, qualifiers=qualifiers
    )
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        version=package.version,
        purl=purl,
        bom_ref=purl.to_string(),
    )


def _component(dist: Distribution, model: str) -> Component:
    purl = PackageURL("pypi", name=canonicalize_name(dist.name), version=dist.version)
    kind = ComponentType.MACHINE_LEARNING_MODEL if canonicalize_name(dist.name) == model else None
    return Component(
        type=kind or ComponentType.LIBRARY,
        name=dist.name,
        version=dist.version,
        purl=purl,
        bom_ref=purl.to_string(),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=dist.sha256)] if dist.sha256 else [],
        licenses=[LicenseFactory().make_from_string(dist.license)] if dist.license else [],
    )


def base_archive(docker: Docker, base: str | None) -> ArchiveRecord | None:
    """The Debian archive record in a base image's labels; None without a base."""
    if base is None:
        return None
    return debian_archive.of_image(docker, base, "rebuild it with `nox -s base-image`")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ner_build.build.inventory", description=__doc__
    )
    parser.add_argument("--docker", default=os.environ.get("DOCKER", "docker"), help="[DOCKER]")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="exit 1 unless the image is exactly the lock")
    check.add_argument("image")
    sbom = commands.add_parser("sbom", help="write the image's CycloneDX SBOM")
    sbom.add_argument("image")
    sbom.add_argument("file", nargs="?", type=Path, help="where to write it (default: stdout)")
    sbom.add_argument(
        "--base-image", help="a base built by `nox -s base-image`: its Debian archive record"
    )
    return parser


def command(args: argparse.Namespace) -> int:
    docker = Docker.from_string(args.docker)
    inventory = read_image(docker, args.image)
    if args.command == "sbom":
        document = sbom(inventory, base_archive(docker, args.base_image))
        if args.file:
            args.file.write_text(document)
        else:
            print(document)
        return 0
    problems = lock_differences(inventory, LOCK)
    print("\n".join(problems) or f"{args.image} holds exactly poetry.lock's main group")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    return console.run_main(lambda: command(args))


if __name__ == "__main__":
    sys.exit(main())
