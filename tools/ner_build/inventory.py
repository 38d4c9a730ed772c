"""What an image has installed, checked against poetry.lock and written as a CycloneDX SBOM.

The image reports its own Python distributions (offline, as its own user); the app's and the
model's versions and the model's sha256 come from the image's labels.

    python -m ner_build.inventory check IMAGE           # exit 1 unless it is exactly the lock
    python -m ner_build.inventory sbom IMAGE [FILE]     # CycloneDX JSON (default: stdout)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from packaging.utils import canonicalize_name

from ner_build import console, lockfile
from ner_build.docker import Docker
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
print(json.dumps({"environment": default_environment(), "distributions": [
    {"name": d.metadata["Name"], "version": d.version, "sha256": sha256(d), "license": license(d)}
    for d in m.distributions()]}))
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
    )


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


def sbom(inventory: Inventory) -> str:
    """A CycloneDX 1.6 SBOM: the image, its Python packages and the pipeline (deterministic)."""
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
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, inventory.image_id),
        metadata=BomMetaData(component=image, timestamp=created),
        components=components,
    )
    bom.register_dependency(image, components)
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


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


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ner_build.inventory", description=__doc__)
    parser.add_argument("--docker", default=os.environ.get("DOCKER", "docker"), help="[DOCKER]")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="exit 1 unless the image is exactly the lock")
    check.add_argument("image")
    sbom = commands.add_parser("sbom", help="write the image's CycloneDX SBOM")
    sbom.add_argument("image")
    sbom.add_argument("file", nargs="?", type=Path, help="where to write it (default: stdout)")
    return parser


def command(args: argparse.Namespace) -> int:
    inventory = read_image(Docker.from_string(args.docker), args.image)
    if args.command == "sbom":
        document = sbom(inventory)
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
