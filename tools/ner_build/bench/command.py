"""`nox -s bench`: measure our image against the classic recipe, in one run on this machine.

Writes benchmarks/results.json, results.md and chart.svg, puts the chart and the table in
benchmarks/README.md and the headline figures in README.md (bench/headline.py).
It measures the committed HEAD, built in a temporary git worktree (the checkout is not
touched). Cold builds run with --no-cache, which on Docker 20.10 also ignores BuildKit's cache
mounts: they share nothing with earlier builds but the base image, and no cache is ever pruned,
so other projects' build caches stay as they are. The cold builds still record their results,
which the app-only rebuilds then find. The build's options (every flag of `nox -s build`, and
DOCKER / --docker for every engine call) come from the same flags and variables.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace

from playwright.sync_api import sync_playwright

from ner_build import console, git
from ner_build.bench import builds, headline, loadbench, quick, runtime, throughput
from ner_build.bench.measurements import OUT, WORK
from ner_build.bench.stats import Budget, Results, chart, markdown, update_readme
from ner_build.build import model
from ner_build.build import options as build_options
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed
from ner_build.paths import BENCHMARKS_README, ROOT

BUDGETS = [
    Budget(builds.IMAGE, "image ≤ 0.5x the baseline", ratio=0.5),
    Budget(builds.PUSHED, "image as pushed ≤ 150 MB", limit=150),
    Budget(runtime.READY, "ready ≤ the baseline's health", ratio=1.0),
    Budget(runtime.READY, "ready ≤ 1.5 s", limit=1.5),
    Budget(runtime.ENTITIES, "first entities ≤ 0.8x the baseline", ratio=0.8),
    Budget(runtime.HEALTH, "health ≤ the baseline", ratio=1.0),
    Budget(builds.COLD, "cold build ≤ the baseline", ratio=1.0),
    Budget(builds.REBUILD_ALL, "app-only edit → nox -s build ≤ 3 s", limit=3),
    Budget(throughput.RATIO, "in-container throughput ≥ 0.95x host", at_most=False, limit=0.95),
    Budget(runtime.IDLE, "idle memory ≤ 150 MB", limit=150),
]


def bench(options: build_options.BuildOptions, runs: int) -> Results:
    """Every measurement, in the order the results show them."""
    docker = Docker.from_string(options.docker)
    docker.check_engine()
    WORK.mkdir(parents=True, exist_ok=True)
    results = Results()
    with builds.worktree() as tree:
        images = builds.measure_builds(docker, tree, options, runs, results)
    builds.measure_sizes(docker, images, results)
    throughput.install_on_host(images.model_wheel)
    throughput.measure_throughput(docker, images, runs, results)
    texts = throughput.first_entities(images.ours.model, runtime.REQUESTS)
    with sync_playwright() as playwright:
        runtime.measure_starts(docker, images, playwright, texts, runs, results)
        idle, busy = runtime.measure_memory(
            docker, images.ours.image_id, "our image", playwright, texts, runs
        )
        _, seed_busy = runtime.measure_memory(
            docker, f"{images.seed}:latest", "the seed image", playwright, texts, runs,
            runtime.SEED_READY,
        )  # fmt: skip
    results.add(runtime.IDLE, "MB", idle)
    results.add(runtime.BUSY, "MB", busy, seed_busy)
    loadbench.measure(docker, images.ours.image_id, texts[0][0], runs, results)
    return results


def write(results: Results, runs: int, commit: str, pipeline: str) -> None:
    """benchmarks/results.md, results.json and chart.svg, the chart and the table in
    benchmarks/README.md, the headline figures in README.md, and the table on stdout."""
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
    update_readme(BENCHMARKS_README, table, svg.relative_to(BENCHMARKS_README.parent).as_posix())
    measured = (
        f"Measured by `nox -s bench` on {datetime.date.today().isoformat()} at {commit}, on "
        f"{machine}, with {pipeline}: medians of {runs} runs."
    )
    update_readme(ROOT / "README.md", headline.text(results, measured), markers=headline.MARKERS)
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
        "--quick",
        action="store_true",
        help="the short form the test command runs: both images built, size, ready and an "
        "app-only rebuild, once each, into build/bench/quick.* (no budget asserted)",
    )
    parser.add_argument(
        "--runs",
        type=positive,
        default=os.environ.get("NER_BENCH_RUNS", "3"),
        help="runs of each measurement; the table shows medians [NER_BENCH_RUNS]",
    )
    return parser


def command(
    options: build_options.BuildOptions, runs: int, stand_in: bool = False, short: bool = False
) -> None:
    if stand_in:
        options = replace(options, model_wheel=model.stand_in_wheel())
    if options.allow_fallbacks:
        raise CheckFailed(
            "nox -s bench measures the pinned inputs or the ones you name: pass --base-image "
            "and --model-wheel instead of --allow-fallbacks, so both images get the same ones."
        )
    commit = git.revision(ROOT)[:7]  # what the worktree measures
    wheel = model.inspect(builds.resolve_model_wheel(options))
    pipeline = f"the pipeline {wheel.package} {wheel.version}" + (
        " (the trained stand-in)" if stand_in else ""
    )
    if short:
        results = quick.measure(options)
        print(quick.write(results, [*BUDGETS, *loadbench.BUDGETS], commit))
        absent = quick.missing(results)
        if absent:
            raise CheckFailed(f"bench --quick measured no {', '.join(absent)}.")
        return
    write(bench(options, runs), runs, commit, pipeline)


def main(argv: Sequence[str] | None = None) -> int:
    args, build_args = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    options = build_options.parse(build_args, os.environ)
    if args.platforms:
        from ner_build.bench import platformbench

        return console.run_main(lambda: platformbench.command(options, args.runs))
    return console.run_main(lambda: command(options, args.runs, args.stand_in, args.quick))


if __name__ == "__main__":
    sys.exit(main())
