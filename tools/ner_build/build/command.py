"""`nox -s build`: the build itself. It prepares the context (the exported lock, the model, the
app wheel), checks the base and the model, builds, makes the image canonical, checks what is
installed against the lock, and records the result. Its flags are in build_options.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ner_build import console, git, process
from ner_build.build import base_image, debian_archive, lockfile, model, multiplatform, rootfs
from ner_build.build import offline_inputs as offline
from ner_build.build.options import BuildOptions as BuildOptions  # the build's public face
from ner_build.build.options import dockerfile, result_paths, target_platform
from ner_build.build.options import parse as parse  # the build's public face
from ner_build.digest import digest_of_file
from ner_build.engine import platforms
from ner_build.engine.docker import Docker
from ner_build.errors import BaseImageUnavailable, CheckFailed, ModelUnavailable, VerificationFailed
from ner_build.image import layers, normalize
from ner_build.paths import (
    CACHE,
    CONTEXT,
    MODEL_PIN,
    ROOT,
    SBOM,
    TEST_PIPELINE,
)
from ner_build.result import BuildResult, Fallback
from ner_build.tags import image_tags

# What goes into the app wheel: its layer takes the time of the last commit that changed these.
APP_SOURCES = ("src", "pyproject.toml", "LICENSE")
step = console.step


def check_base_platform(docker: Docker, base: str, target: platforms.Platform) -> None:
    """Refuse a base image of another architecture than the target's: an engine that keeps
    one image per tag would build on it anyway."""
    found = docker.platform_of(base)
    if found != str(target):
        raise CheckFailed(
            f"The base image {base} is {found}, not {target}. Build one for {target} with "
            f"`nox -s base-image -- --arch {target.architecture}` (it is tagged "
            f"{base_image.default_tag(target, platforms.Platform.native())}) and pass it with "
            "--base-image."
        )


def prepare_model(
    options: BuildOptions, locked_spacy: str, fallbacks: list[Fallback]
) -> model.ModelWheel:
    if options.model_wheel:
        step(f"using the local model wheel {options.model_wheel}")
        wheel = model.inspect(options.model_wheel)
    else:
        wheel = model.inspect(pinned_or_fallback_model(options, fallbacks))
    step(
        f"checking {wheel.name} {wheel.version} (spacy{wheel.spacy_requirement})"
        f" against spacy {locked_spacy}"
    )
    model.check_spacy_compatible(wheel, locked_spacy)
    return wheel


def pinned_or_fallback_model(options: BuildOptions, fallbacks: list[Fallback]) -> Path:
    """The pinned model, verified; with --allow-fallbacks, the test pipeline when it cannot be
    downloaded."""
    pin = model.ModelPin.load(MODEL_PIN)
    step(f"fetching {pin.name} {pin.version} (sha256 {pin.sha256[:12]}…) into {CACHE}")
    try:
        return model.fetch(pin, CACHE, options.model_mirror)
    except ModelUnavailable as error:
        if not options.allow_fallbacks:
            raise
        from ner_build.build import test_pipeline  # imports spaCy: only when it is needed

        step("the pinned model cannot be downloaded; building the test pipeline instead")
        wheel = test_pipeline.build_wheel(TEST_PIPELINE)
        fallbacks.append(
            Fallback(
                "model",
                f"{pin.name} {pin.version} from {pin.url}",
                f"{test_pipeline.PACKAGE} {test_pipeline.VERSION}, a small entity-ruler pipeline "
                "built from this repository (tools/ner_build/build/test_pipeline.py)",
                str(error).splitlines()[0],
                f"put the pinned wheel (sha256 {pin.sha256}) into {CACHE}/ or serve it from a "
                "mirror (--model-mirror URL); the build checks it against the pin",
            )
        )
        return wheel


def base_or_fallback(
    docker: Docker,
    options: BuildOptions,
    fallbacks: list[Fallback],
    target: platforms.Platform | None = None,
) -> str:
    """The base image to build on: the chosen or pinned one, or with --allow-fallbacks a base
    built from Debian packages when the pinned one cannot be pulled."""
    base = options.base_image or base_image.pinned(dockerfile(options))
    step(f"checking the base image {base}")
    try:
        docker.ensure_image(base, base_image.UNAVAILABLE_HINT, target)
        return base
    except BaseImageUnavailable as error:
        if not options.allow_fallbacks or options.base_image:
            raise
        reason = str(error).splitlines()[0]
    native = platforms.Platform.native()
    local = base_image.default_tag(target or native, native)
    if not docker.image_id(local):
        step(f"{base} cannot be pulled; building {local} from Debian packages")
        env = {**os.environ, "DOCKER": str(docker)}
        arch = (target or native).architecture
        base_image.make(base_image.parse([f"--tag={local}", f"--arch={arch}"], env))
    fallbacks.append(
        Fallback(
            "base image",
            base,
            f"{local}, Debian {base_image.SUITE}'s python3 built here with "
            "debuerreotype (nox -s base-image)",
            reason,
            f"build on a host that can pull {base}, or `docker load` it from an archive saved "
            "where it can be pulled",
        )
    )
    return local


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
    shutil.copy2(Path(rootfs.__file__), CONTEXT / "rootfs.py")  # run by the rootfs stage
    offline.prepare(CONTEXT / "offline", options.offline)
    step("building the app wheel")
    process.run(
        [
            options.poetry,
            "build",
            "--no-interaction",
            "--format",
            "wheel",
            "--output",
            CONTEXT / "app",
        ],
        cwd=ROOT,
        env={"SOURCE_DATE_EPOCH": str(git.commit_time(ROOT, *APP_SOURCES))},
    )


def build_args(
    options: BuildOptions,
    wheel: model.ModelWheel,
    version: str,
    revision: str,
    fallbacks: Sequence[Fallback] = (),
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
    if fallbacks:
        values["FALLBACKS"] = ",".join(f.input.replace(" ", "-") for f in fallbacks)
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
        raise CheckFailed(f"{error}; pass --image / NER_IMAGE without a tag.") from None
    target = target_platform(options)
    step("checking poetry.lock against pyproject.toml")
    lockfile.check_fresh(options.poetry, ROOT)
    if options.ca_bundle and not options.ca_bundle.is_file():
        raise CheckFailed(f"CA bundle {options.ca_bundle} does not exist; give a PEM file.")
    fallbacks: list[Fallback] = []
    wheel = prepare_model(
        options, lockfile.locked_version(ROOT / "poetry.lock", "spacy"), fallbacks
    )
    step(f"checking the engine behind `{docker}`")
    engine = docker.check_engine()
    docker.check_buildkit()
    step(f"building with {engine}")
    base = base_or_fallback(docker, options, fallbacks, target)
    if target is not None:
        check_base_platform(docker, base, target)
    if fallbacks and fallbacks[-1].input == "base image":
        options = replace(options, base_image=base)
    prepare_context(options, wheel)
    step(f"building {tags[1]}")
    iid_file = ROOT / "build" / "image.iid"
    started = time.monotonic()
    args = build_args(options, wheel, version, revision, fallbacks)
    docker.build(
        f"--file={dockerfile(options)}",
        f"--iidfile={iid_file}",
        *args,
        *([f"--platform={target}"] if target else []),
        *options.buildx_args,
        str(ROOT),
    )
    built = time.monotonic()
    step("writing the image in canonical form (ner_build.image.normalize), times at the commit's")
    built_id = iid_file.read_text().strip()
    image_id = normalize.normalize_image(
        docker,
        built_id,
        git.commit_time(ROOT),
        tags,
        ROOT / "build",
        keep_layers=docker.shared_layers(built_id, base),
    )
    seconds = {"build": built - started, "normalize": time.monotonic() - built}
    ca_bundle = str(options.ca_bundle.resolve()) if options.ca_bundle else None
    archive = debian_archive.from_labels(docker.labels(base))
    inputs = {**base_inputs(docker, base, archive), **recorded_inputs(options, wheel, args)}
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
        inputs["base image ID"],
        list(options.buildx_args),
        docker.platform_of(image_id),
        inputs["base image digest"],
        archive_document(archive),
        layers.layer_records(docker.layers(image_id), inputs),
        layers.config_record(inputs),
    )


def base_inputs(
    docker: Docker, base: str, archive: debian_archive.ArchiveRecord | None
) -> dict[str, str]:
    """The base's part of every layer's inputs (ner_build.layers.BASE)."""
    return {
        "base image": base,
        "base image ID": docker.image_id(base) or "",
        "base image digest": base_digest(docker, base),
        "Debian archive": archive_summary(archive),
    }


def recorded_inputs(
    options: BuildOptions, wheel: model.ModelWheel, args: list[str]
) -> dict[str, str]:
    """The values of the other inputs the image's layers and config are made from (the build
    context's files and the build arguments)."""
    values = dict(arg.removeprefix("--build-arg=").split("=", 1) for arg in args if "=" in arg)
    app_wheel = next((CONTEXT / "app").glob("*.whl"))
    return {
        "Dockerfile": digest_of_file(dockerfile(options)),
        "rootfs.py": digest_of_file(CONTEXT / "rootfs.py"),
        "locked requirements": digest_of_file(CONTEXT / "requirements.txt"),
        "uv": digest_of_file(CONTEXT / "uv-requirements.txt"),
        "model wheel": f"{wheel.path.name} sha256:{wheel.sha256}",
        "app wheel": f"{app_wheel.name} {digest_of_file(app_wheel)}",
        "lock time": values.get("LOCK_EPOCH", ""),
        "app time": values.get("APP_EPOCH", ""),
        "commit": values.get("REVISION", ""),
        "commit time": values.get("SOURCE_DATE_EPOCH", ""),
        "version": values.get("VERSION", ""),
        "fallbacks": values.get("FALLBACKS", ""),
    }


def archive_document(record: debian_archive.ArchiveRecord | None) -> dict[str, Any] | None:
    """The Debian archive state a base built by `nox -s base-image` records in its labels, as
    JSON without the mirrors (the host's, not part of the state)."""
    if record is None:
        return None
    document: dict[str, Any] = json.loads(debian_archive.to_json(record))  # plain JSON types
    del document["mirrors"]
    return document


def archive_summary(record: debian_archive.ArchiveRecord | None) -> str:
    """The base's Debian archive state in one line: each suite's Release date and the package
    list's sha256 ("" when the base records none)."""
    if record is None:
        return ""
    return f"{record.releases_line} packages sha256:{record.packages_sha256}"


def base_digest(docker: Docker, base: str) -> str:
    """The base's registry digest: the one its reference pins, else one the engine recorded
    when it was pulled; "" for a base built here (nox -s base-image), which has none."""
    _, _, pinned = base.partition("@")
    if pinned:
        return pinned
    return next((entry.partition("@")[2] for entry in docker.repo_digests(base)), "")


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
    verify(Docker.from_string(options.docker), result.image_id, sbom_path, result.base_image)
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
