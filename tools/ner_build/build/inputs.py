"""The build's inputs, checked and laid out before the engine runs: the model (the pin, or
with --allow-fallbacks the test pipeline), the base image (or one built from Debian packages),
the build context in build/image, and the build arguments."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from ner_build import console, git, process
from ner_build.build import base_image, lockfile, model, rootfs
from ner_build.build import offline_inputs as offline
from ner_build.build.options import BuildOptions, dockerfile
from ner_build.engine import platforms
from ner_build.engine.docker import Docker
from ner_build.errors import BaseImageUnavailable, CheckFailed, ModelUnavailable
from ner_build.image import normalize
from ner_build.paths import CACHE, CONTEXT, MODEL_PIN, POETRY_MEMO, ROOT, TEST_PIPELINE
from ner_build.result import Fallback

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
    lockfile.export_main(options.poetry, ROOT, CONTEXT / "requirements.txt", POETRY_MEMO)
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
