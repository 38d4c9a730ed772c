"""`nox -s reproduce`: build the same commit twice from scratch and compare the two images.

Both builds run with --no-cache, which on Docker 20.10 also empties BuildKit's cache mounts,
so they share nothing but the inputs: the commit, the lock and the pinned base image and model.
When `nox -s build` last built this same clean commit (with its cache), that image must match too.
One platform at a time: `--platform linux/arm64` (with an arm64 --base-image) proves arm64, and
compares with the regular build recorded in --result / NER_BUILD_RESULT.
It reports any difference (image ID, layer digests, config with and without timestamps, and per
layer the paths whose content, mode, owner or mtime differ) and exits 1; identical images exit 0.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ner_build import build, compare, console, git
from ner_build.docker import Docker
from ner_build.paths import BUILD, ROOT
from ner_build.result import BuildResult

NAMES = ("ner-app-reproduce-a", "ner-app-reproduce-b")


def reproduce(options: build.BuildOptions) -> tuple[str, list[str]]:
    """Build twice, compare; return the first image's ID and the differences (none: identical)."""
    docker = Docker.from_string(options.docker)
    results: list[BuildResult] = []
    for name in NAMES:
        console.step(f"clean build {len(results) + 1} of 2 as {name}")
        clean = replace(options, image=name, buildx_args=[*options.buildx_args, "--no-cache"])
        results.append(build.run(clean))
    differences = [] if results[0].image_id == results[1].image_id else explain(docker, results)
    cached = regular_build(docker, build.result_paths(options)[0], results[0].platform)
    if not differences and cached and cached.image_id != results[0].image_id:
        console.step(f"the regular build {cached.tags[1]} differs from the clean builds")
        differences = explain(docker, [cached, results[0]])
    if not differences:
        for result in results:
            docker.run("image", "rm", *result.tags)
    return results[0].image_id, differences


def regular_build(docker: Docker, record: Path, platform: str) -> BuildResult | None:
    """The last `nox -s build` result recorded there, if it built this same clean commit for
    the same platform and still exists."""
    if not record.exists():
        return None
    recorded = BuildResult.load(record)
    same_commit = recorded.revision == git.revision(ROOT) and not git.is_dirty(ROOT)
    same = same_commit and recorded.platform == platform
    return recorded if same and docker.image_id(recorded.image_id) else None


def explain(docker: Docker, results: list[BuildResult]) -> list[str]:
    """What differs between two images with different IDs."""
    with tempfile.TemporaryDirectory(prefix="ner-app-reproduce-", dir=BUILD) as tmp:
        images = [compare.read_saved(compare.save(docker, r.image_id, Path(tmp))) for r in results]
    return list(compare.compare(*images))


def command(options: build.BuildOptions) -> int:
    image_id, differences = reproduce(options)
    if differences:
        print("NOT reproducible: the two clean builds differ")
        print("\n".join(differences))
        print(f"(the images are kept as {NAMES[0]}:latest and {NAMES[1]}:latest)")
        return 1
    print(f"reproducible: two clean builds gave the identical image {image_id}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    options = build.parse(sys.argv[1:] if argv is None else argv, os.environ)
    return console.run_main(lambda: command(options))


if __name__ == "__main__":
    sys.exit(main())
