"""`nox -s build`: the build itself. It checks and lays out its inputs (build.inputs: the
model, the base, the context), builds, makes the image canonical (image.normalize), checks
what is installed against the lock, and records the result (build.record). Its flags are in
build.options.
"""

from __future__ import annotations

import json
import os
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from ner_build import console, git
from ner_build.build import debian_archive, inputs, lockfile, multiplatform, record
from ner_build.build.options import BuildOptions as BuildOptions  # the build's public face
from ner_build.build.options import dockerfile, result_paths, target_platform
from ner_build.build.options import parse as parse  # the build's public face
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed, VerificationFailed
from ner_build.image import layers, normalize
from ner_build.image.layer_store import LayerStore
from ner_build.paths import CANONICAL_LAYERS, POETRY_MEMO, ROOT, SBOM
from ner_build.result import BuildResult, Fallback
from ner_build.tags import image_tags

step = console.step


def run(options: BuildOptions) -> BuildResult:
    docker = Docker.from_string(options.docker)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    revision, dirty = git.revision(ROOT), git.is_dirty(ROOT)
    try:
        tags = image_tags(options.image, version, revision, dirty)
    except ValueError as error:
        raise CheckFailed(f"{error}; pass --image / NER_IMAGE without a tag.") from None
    target = target_platform(options)
    step("checking poetry.lock against pyproject.toml")
    lockfile.check_fresh(options.poetry, ROOT, POETRY_MEMO)
    if options.ca_bundle and not options.ca_bundle.is_file():
        raise CheckFailed(f"CA bundle {options.ca_bundle} does not exist; give a PEM file.")
    fallbacks: list[Fallback] = []
    wheel = inputs.prepare_model(
        options, lockfile.locked_version(ROOT / "poetry.lock", "spacy"), fallbacks
    )
    step(f"checking the engine behind `{docker}`")
    engine = docker.check_engine()
    docker.check_buildkit()
    step(f"building with {engine}")
    base = inputs.base_or_fallback(docker, options, fallbacks, target)
    if target is not None:
        inputs.check_base_platform(docker, base, target)
    if fallbacks and fallbacks[-1].input == "base image":
        options = replace(options, base_image=base)
    inputs.prepare_context(options, wheel)
    step(f"building {tags[1]}")
    iid_file = ROOT / "build" / "image.iid"
    started = time.monotonic()
    args = inputs.build_args(options, wheel, version, revision, fallbacks)
    # The containerd image store knows the built image by its manifest, not by the config
    # digest --iidfile names: a tag names it for the canonical form, which removes it again.
    raw_tag = [f"--tag={tags[1]}-raw"] if docker.names_by_manifest else []
    docker.build(
        f"--file={dockerfile(options)}",
        f"--iidfile={iid_file}",
        *raw_tag,
        *args,
        *([f"--platform={target}"] if target else []),
        *options.buildx_args,
        str(ROOT),
    )
    built = time.monotonic()
    step("writing the image in canonical form (ner_build.image.normalize), times at the commit's")
    built_id = raw_tag[0].removeprefix("--tag=") if raw_tag else iid_file.read_text().strip()
    canonical = normalize.normalize_image(
        docker,
        built_id,
        git.commit_time(ROOT),
        tags,
        ROOT / "build",
        keep_layers=docker.shared_layers(built_id, base),
        store=layer_store(options),
    )
    image_id = canonical.image_id
    ref = canonical.manifest_digest or image_id  # what the engine names it by
    seconds = {"build": built - started, "normalize": time.monotonic() - built}
    ca_bundle = str(options.ca_bundle.resolve()) if options.ca_bundle else None
    archive = debian_archive.from_labels(docker.labels(base))
    values = {
        **record.base_inputs(docker, base, archive),
        **record.recorded_inputs(options, wheel, args),
    }
    return BuildResult(
        image_id,
        tags,
        revision,
        wheel.package,
        wheel.version,
        wheel.sha256,
        ca_bundle,
        seconds,
        [asdict(f) for f in fallbacks],
        engine,
        base,
        values["base image ID"],
        list(options.buildx_args),
        docker.platform_of(ref),
        values["base image digest"],
        record.archive_document(archive),
        layers.layer_records(docker.layers(ref), values),
        layers.config_record(values),
        {"written": canonical.written, "reused": canonical.reused, "held": canonical.held},
        canonical.manifest_digest,
    )


def layer_store(options: BuildOptions) -> LayerStore:
    """The canonical layers of earlier builds; a --no-cache build reuses none of them."""
    reuse = "--no-cache" not in options.buildx_args
    return LayerStore(CANONICAL_LAYERS, normalize.rules_source(), reuse=reuse)


def verify(docker: Docker, image_id: str, sbom_path: Path = SBOM, base: str = "") -> None:
    """Fail unless the image holds exactly the lock's main group; then write its SBOM, with
    the base's Debian archive state when it records one."""
    from ner_build.build import inventory  # cyclonedx: a rebuild from a bundle's tools has none

    step("checking the image against poetry.lock and writing its SBOM")
    found = inventory.read_image(docker, image_id)
    problems = inventory.lock_differences(found, ROOT / "poetry.lock")
    if problems:
        raise VerificationFailed(
            "The image does not hold exactly poetry.lock's main group:\n  " + "\n  ".join(problems)
        )
    sbom_path.parent.mkdir(parents=True, exist_ok=True)
    archive = debian_archive.from_labels(docker.labels(base)) if base else None
    sbom_path.write_text(inventory.sbom(found, archive))


def report(result: BuildResult, sbom_path: Path = SBOM) -> None:
    print(
        "\n".join(
            [
                f"built with {result.engine}:",
                *(f"  {tag}" for tag in result.tags),
                f"image ID: {result.image_id}",
                *(
                    [
                        f"manifest digest (the containerd image store's name for it): "
                        f"{result.manifest_digest}"
                    ]
                    if result.manifest_digest
                    else []
                ),
            ]
        )
    )
    print(f"SBOM: {sbom_path}")
    if result.fallbacks:
        lines = [
            "This image is NOT the product: pinned inputs were replaced by local stand-ins,",
            "so it is labelled io.ner-app.fallbacks and `nox -s publish` refuses it.",
        ]
        for f in result.fallbacks:
            lines += [
                "",
                f"{f['input']}: pinned {f['pinned']}",
                f"  used instead: {f['used']}",
                f"  because: {f['reason']}",
                f"  to get the real one: {f['remedy']}",
            ]
        console.warn("built with local fallbacks", lines)


def command(options: BuildOptions) -> None:
    result_path, sbom_path = result_paths(options)
    result = run(options)
    verify(Docker.from_string(options.docker), result.ref, sbom_path, result.base_image)
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(asdict(result), indent=2) + "\n")
    report(result, sbom_path)


def build_any(options: BuildOptions) -> None:
    """One platform's image, or with several platforms each one's and their index."""
    if multiplatform.is_multiplatform(options):
        multiplatform.command(options, command)
    else:
        command(options)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv, os.environ)
    return console.run_main(lambda: build_any(options))


if __name__ == "__main__":
    sys.exit(main())
