"""`nox -s reproduce`: build the same commit twice from scratch and compare the two images.

Both builds run with --no-cache, which on Docker 20.10 also empties BuildKit's cache mounts,
so they share nothing but the inputs: the commit, the lock and the pinned base image and model.
When `nox -s build` last built this same clean commit (with its cache), that image must match too.
One platform at a time: `--platform linux/arm64` (with an arm64 --base-image) proves arm64, and
compares with the regular build recorded in --result / NER_BUILD_RESULT.
It reports any difference (image ID, layer digests, config with and without timestamps, and per
layer the paths whose content, mode, owner or mtime differ) and exits 1; identical images exit 0.

`--against RECORD` compares with a build made elsewhere instead: one clean build here, then its
record against RECORD (that machine's build/image.json, or a bundle's provenance): the first
layer whose diff ID differs and which of that layer's recorded inputs (ner_build.image.layers)
differ.
Our record goes to build/reproduce/image.json, to send back.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ner_build import console, git
from ner_build.build import command as build
from ner_build.build import options as build_options
from ner_build.engine import platforms
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed
from ner_build.image import compare, layers
from ner_build.paths import BUILD, ROOT
from ner_build.result import BuildResult, same_image

NAMES = ("ner-app-reproduce-a", "ner-app-reproduce-b")
OURS = BUILD / "reproduce" / "image.json"


def reproduce(options: build_options.BuildOptions) -> tuple[str, list[str]]:
    """Build twice, compare; return the first image's ID and the differences (none: identical)."""
    docker = Docker.from_string(options.docker)
    results: list[BuildResult] = []
    for name in NAMES:
        console.step(f"clean build {len(results) + 1} of 2 as {name}")
        clean = replace(options, image=name, buildx_args=[*options.buildx_args, "--no-cache"])
        results.append(build.run(clean))
    differences = [] if same_image(*results) else explain(docker, results)
    cached = regular_build(docker, build_options.result_paths(options)[0], results[0].platform)
    if not differences and cached and not same_image(cached, results[0]):
        console.step(f"the regular build {cached.tags[1]} differs from the clean builds")
        differences = explain(docker, [cached, results[0]])
    if not differences:
        for result in results:
            for tag in result.tags:
                docker.untag(tag)
    return described(results[0]), differences


def described(result: BuildResult) -> str:
    manifest = result.manifest_digest
    named = f" (the containerd image store names it by its manifest {manifest})" if manifest else ""
    return f"{result.image_id}{named}"


def regular_build(docker: Docker, record: Path, platform: str) -> BuildResult | None:
    """The last `nox -s build` result recorded there, if it built this same clean commit for
    the same platform and still exists."""
    if not record.exists():
        return None
    recorded = BuildResult.load(record)
    same_commit = recorded.revision == git.revision(ROOT) and not git.is_dirty(ROOT)
    matches = same_commit and recorded.platform == platform
    return recorded if matches and docker.image_id(recorded.ref) else None


def explain(docker: Docker, results: list[BuildResult]) -> list[str]:
    """What differs between two images with different IDs."""
    with tempfile.TemporaryDirectory(prefix="ner-app-reproduce-", dir=BUILD) as tmp:
        images = [compare.read_saved(compare.save(docker, r.ref, Path(tmp))) for r in results]
    return list(compare.compare(*images))


def read_record(path: Path) -> dict[str, Any]:
    """A build record (build/image.json) or a bundle's provenance, as a build record."""
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckFailed(
            f"Cannot read the record {path}: {error}. Give the build/image.json that "
            "`nox -s build` wrote there, or a bundle's provenance.intoto.json."
        ) from None
    if "predicate" in document:  # an in-toto statement (ner_build.release.provenance)
        definition = document["predicate"]["buildDefinition"]
        internal = definition["internalParameters"]
        base = definition["resolvedDependencies"][2].get("annotations", {})
        return {
            "image_id": internal["imageId"],
            "platform": "",
            "layers": internal.get("layers", []),
            "config_inputs": internal.get("configInputs", {}),
            "base_archive": base.get("debianArchive"),
        }
    return document


def check_same_platform(
    options: build_options.BuildOptions, theirs: dict[str, Any], path: Path
) -> None:
    ours = options.platform or str(platforms.Platform.native())
    if theirs.get("platform") and theirs["platform"] != ours:
        raise CheckFailed(
            f"{path} records a {theirs['platform']} image and this build is {ours}: pass "
            f"--platform {theirs['platform']} (with a base image of that platform)."
        )


def against(options: build_options.BuildOptions, path: Path) -> int:
    """One clean build here, compared with the record of a build made elsewhere."""
    theirs = read_record(path)
    check_same_platform(options, theirs, path)
    console.step(f"a clean build as {NAMES[0]}, to compare with {path}")
    clean = replace(options, image=NAMES[0], buildx_args=[*options.buildx_args, "--no-cache"])
    result = build.run(clean)
    OURS.parent.mkdir(parents=True, exist_ok=True)
    OURS.write_text(json.dumps(asdict(result), indent=2) + "\n")
    lines = layers.explain(layers.Record.of(asdict(result)), layers.Record.of(theirs))
    if not lines:
        print(f"reproducible: this build gave {result.image_id}, the image {path} records")
        for tag in result.tags:
            Docker.from_string(options.docker).untag(tag)
        return 0
    print(f"NOT the same image: ours {result.image_id}, {path} records {theirs.get('image_id')}")
    print("\n".join(lines))
    print(f"(ours is kept as {NAMES[0]}:latest; our record is {OURS})")
    return 1


def command(options: build_options.BuildOptions) -> int:
    image_id, differences = reproduce(options)
    if differences:
        print("NOT reproducible: the two clean builds differ")
        print("\n".join(differences))
        print(f"(the images are kept as {NAMES[0]}:latest and {NAMES[1]}:latest)")
        return 1
    print(f"reproducible: two clean builds gave the identical image {image_id}")
    return 0


def parser() -> argparse.ArgumentParser:
    parser = build_options.tool_parser("nox -s reproduce --", __doc__)
    parser.add_argument(
        "--against",
        type=Path,
        metavar="RECORD",
        help="compare one clean build with this record of a build made elsewhere",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, build_argv = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    options = build_options.parse(build_argv, os.environ)
    if args.against:
        return console.run_main(lambda: against(options, args.against))
    return console.run_main(lambda: command(options))


if __name__ == "__main__":
    sys.exit(main())
