"""`python -m ner_build.proofs.rebuild BUNDLE`: rebuild the shipped image from a bundle's
sources, with no network, and check that it is the same image (the same image ID).

Run from a checkout of the bundled commit (sources/rebuild.sh clones it and runs this). It loads
sources/base-image.tar, builds with `--network=none` from the bundle's model, wheels and .debs
(ner_build.build with --offline), and compares the new image ID with image.json's. Exit 0: the
same image ID; 1: not the same, with what differs.

Only the standard library and the tools' venv (Poetry, packaging, nox, uv) are used here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ner_build import console
from ner_build.build import command as build
from ner_build.build import offline_inputs as offline
from ner_build.build import options as build_options
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed, ToolError, VerificationFailed
from ner_build.paths import BUILD

IMAGE = "ner-app-rebuild"
BASE_TAG = "ner-app-rebuild-base"  # + ":" + the first 12 hex digits of the base's ID
RESULT = BUILD / "rebuild.json"


@dataclass(frozen=True)
class Shipped:
    """What the bundle says was shipped (its top-level image.json)."""

    image_id: str
    revision: str
    tags: list[str]


def read_shipped(bundle: Path) -> Shipped:
    path = bundle / "image.json"
    try:
        data = json.loads(path.read_text())
        return Shipped(str(data["image_id"]), str(data.get("revision", "")), list(data["tags"]))
    except FileNotFoundError:
        raise CheckFailed(f"{path} is missing: {bundle} is not a bundle's folder.") from None
    except (ValueError, KeyError, TypeError) as error:
        raise CheckFailed(f"{path} is not a bundle's image.json ({error!r}).") from None


def check_sources(bundle: Path) -> Path:
    """bundle/sources, when it holds everything a rebuild reads."""
    sources = bundle / "sources"
    if not sources.is_dir():
        raise CheckFailed(
            f"{bundle} has no sources/ folder: a rebuild needs a bundle made with "
            "`nox -s bundle -- --with-sources`."
        )
    for required in (offline.BASE_ARCHIVE, offline.BASE_RECORD):
        if not (sources / required).is_file():
            raise CheckFailed(f"{sources / required} is missing; {offline.MAKE_BUNDLE_HINT}")
    offline.check(sources)
    model_wheel(sources)
    return sources


def model_wheel(sources: Path) -> Path:
    wheels = sorted((sources / offline.MODEL).glob("*.whl"))
    if len(wheels) != 1:
        raise CheckFailed(
            f"{sources / offline.MODEL} must hold exactly one model wheel, not {len(wheels)}; "
            f"{offline.MAKE_BUNDLE_HINT}"
        )
    return wheels[0]


def load_base(docker: Docker, sources: Path) -> str:
    """Load the base image and tag it for the build (a tag of this tool's own, so no tag of
    the user's is moved); its ID must be the one the bundle records."""
    record = json.loads((sources / offline.BASE_RECORD).read_text())
    expected = str(record["id"])
    console.step(f"loading the base image {record['ref']} ({expected[:19]}…)")
    docker.load(sources / offline.BASE_ARCHIVE)
    if docker.image_id(expected) != expected:
        raise VerificationFailed(
            f"After loading {sources / offline.BASE_ARCHIVE}, the engine has no image "
            f"{expected}: the archive is not the bundle's base image; ask for a new bundle."
        )
    tag = f"{BASE_TAG}:{expected.removeprefix('sha256:')[:12]}"
    docker.tag(expected, [tag])
    return tag


def options(sources: Path, docker: Docker, base: str, poetry: str) -> build_options.BuildOptions:
    """The normal build, from the bundle's inputs, with no network and no CA bundle."""
    return build_options.BuildOptions(
        docker=str(docker),
        base_image=base,
        model_wheel=model_wheel(sources),
        model_mirror=None,
        ca_bundle=None,
        image=IMAGE,
        poetry=poetry,
        buildx_args=["--network=none"],
        offline=sources,
        result=RESULT,
    )


def rebuild(bundle: Path, docker: Docker, poetry: str) -> int:
    shipped = read_shipped(bundle)
    sources = check_sources(bundle)
    console.step(f"checking the engine behind `{docker}`")
    docker.check_engine()
    base = load_base(docker, sources)
    result = build.run(options(sources, docker, base, poetry))
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return report(docker, shipped, result.image_id, result.tags[1])


def report(docker: Docker, shipped: Shipped, rebuilt_id: str, rebuilt_tag: str) -> int:
    if rebuilt_id == shipped.image_id:
        print(f"same image ID {rebuilt_id}: rebuilt offline as {rebuilt_tag}")
        return 0
    print(f"NOT the same image: shipped {shipped.image_id}, rebuilt {rebuilt_id} ({rebuilt_tag})")
    for line in explain(docker, shipped.image_id, rebuilt_id):
        print(line)
    return 1


def explain(docker: Docker, shipped_id: str, rebuilt_id: str) -> list[str]:
    """What differs, when the shipped image is in the engine; else how to find out."""
    if docker.image_id(shipped_id) != shipped_id:
        return [
            "To see what differs, load the shipped image (sh verify-and-load.sh) and run "
            f"`PYTHONPATH=tools python -m ner_build.image.compare {shipped_id} {rebuilt_id}`."
        ]
    from ner_build.image import compare

    try:
        return compare.compare_images((docker, shipped_id), (docker, rebuilt_id))
    except ToolError as error:
        return [f"comparing them failed: {error}"]


def parse(argv: Sequence[str], env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ner_build.proofs.rebuild", description=__doc__)
    parser.add_argument("bundle", type=Path, help="the bundle's folder (holding sources/)")
    parser.add_argument("--docker", default=env.get("DOCKER", "docker"), help="[DOCKER]")
    parser.add_argument("--poetry", default=env.get("POETRY", "poetry"), help="[POETRY]")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv, os.environ)
    docker = Docker.from_string(args.docker)
    return console.run_main(lambda: rebuild(args.bundle.resolve(), docker, args.poetry))


if __name__ == "__main__":
    sys.exit(main())
