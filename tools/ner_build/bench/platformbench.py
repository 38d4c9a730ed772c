"""`nox -s bench -- --platforms`: each platform's image of the last multi-platform build
(build/index.json, made by `nox -s build -- --platform linux/amd64,linux/arm64`), side by side
in one run: its size, uncompressed and as a pull transfers it, and the time from `docker run`
to /readyz answering 200. A platform other than the host's runs under QEMU emulation here; its
column says so, since its times are emulation's, not the platform's.

Writes benchmarks/platforms.json and platforms.md, and the table into benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from ner_build import console
from ner_build.bench.measurements import OUT, WORK, image_size_mb, pushed_mb, time_to_ready
from ner_build.bench.stats import Summary, cell, update_readme
from ner_build.build import options as build_options
from ner_build.build.multiplatform import IndexRecord
from ner_build.engine.docker import Docker
from ner_build.engine.platforms import Platform
from ner_build.engine.registry import local_registry
from ner_build.paths import BENCHMARKS_README

MARKERS = ("<!-- platforms:start -->", "<!-- platforms:end -->")
EMULATED_TIMEOUT = 300  # s: a start under emulation takes several times as long
SIZE = "image size, uncompressed (MB)"
PUSHED = "image size, compressed as pushed (MB)"
READY = "docker run → ready (s)"
Figures = dict[str, dict[str, Summary]]  # measure → platform → summary


def heading(platform: str, native: str) -> str:
    """A platform's column: emulated ones say so."""
    return platform if platform == native else f"{platform} (emulated: QEMU on {native})"


def measure(docker: Docker, record: IndexRecord, runs: int) -> Figures:
    """Sizes once, then each platform's start in turn, runs times: side by side, one run."""
    figures: Figures = {SIZE: {}, PUSHED: {}, READY: {}}
    native = str(Platform.native())
    WORK.mkdir(parents=True, exist_ok=True)
    console.step("bench: each platform's image size, in the engine and pushed to a local registry")
    with tempfile.TemporaryDirectory(dir=WORK) as tmp, local_registry(Path(tmp)) as registry:
        for platform, image in record.images.items():
            name = f"ner-app-{platform.split('/')[1]}"
            figures[SIZE][platform] = Summary.of([image_size_mb(docker, image["image_id"])])
            pushed = pushed_mb(docker, registry, image["image_id"], name)
            figures[PUSHED][platform] = Summary.of([pushed])
    ready: dict[str, list[float]] = {platform: [] for platform in record.images}
    for run in range(runs):
        for platform, image in record.images.items():
            console.step(
                f"bench: start of the {platform} image, run {run + 1} of {runs}: `docker run`, "
                f"then waiting for ready"
            )
            timeout = 60 if platform == native else EMULATED_TIMEOUT
            ready[platform].append(time_to_ready(docker, image["image_id"], timeout))
    figures[READY] = {platform: Summary.of(values) for platform, values in ready.items()}
    return figures


def markdown(figures: Figures, note: str) -> str:
    platforms = list(figures[SIZE])
    native = str(Platform.native())
    lines = [
        "| measure | " + " | ".join(heading(p, native) for p in platforms) + " |",
        "|---|" + "---:|" * len(platforms),
        *(
            f"| {what} | " + " | ".join(cell(by[p]) for p in platforms) + " |"
            for what, by in figures.items()
        ),
        "",
        note,
    ]
    return "\n".join(lines) + "\n"


def write(figures: Figures, record: IndexRecord, runs: int) -> str:
    machine = f"{os.cpu_count()} cores, {os.uname().machine}"
    tag = next(iter(record.images.values()))["tag"]
    note = (
        f"Medians of {runs} starts of each, alternating, with (min-max), measured by `nox -s "
        f"bench -- --platforms` on {machine}, for {tag}'s images in build/index.json (index "
        f"{record.index_digest[:19]}…). Sizes are single measurements."
    )
    table = markdown(figures, note)
    (OUT / "platforms.md").write_text("# Per platform\n\n" + table)
    payload = {
        "note": note,
        "index": record.index_digest,
        "figures": {what: {p: asdict(s) for p, s in by.items()} for what, by in figures.items()},
    }
    (OUT / "platforms.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    update_readme(BENCHMARKS_README, table, markers=MARKERS)
    return table


def command(options: build_options.BuildOptions, runs: int) -> None:
    docker = Docker.from_string(options.docker)
    docker.check_engine()
    record = IndexRecord.load()
    print(write(measure(docker, record, runs), record, runs))
