"""The README's figures, as the bench measured them: written by `nox -s bench` between the
figures markers of README.md, with the date, the commit, the machine and the pipeline, so that
the front door never shows a number the bench did not write."""

from __future__ import annotations

from ner_build.bench import builds, runtime, throughput
from ner_build.bench.stats import Figure, Results, fmt

MARKERS = ("<!-- figures:start -->", "<!-- figures:end -->")


def median(figure: Figure, baseline: bool = False) -> str:
    summary = figure.baseline if baseline else figure.ours
    if summary is None:
        raise ValueError(f"{figure.name} has no baseline")
    return fmt(summary.median)


def text(results: Results, measured: str) -> str:
    """The figures as a short list (what stands between the markers), under `measured`: when,
    where, at which commit and with which pipeline."""
    size, pushed = results.get(builds.IMAGE), results.get(builds.PUSHED)
    ready = results.get(runtime.READY)
    rebuild, docker_step = results.get(builds.REBUILD_ALL), results.get(builds.REBUILD)
    inside, ratio = results.get(throughput.INSIDE), results.get(throughput.RATIO)
    size_ratio = size.ours.median / size.baseline.median if size.baseline else 0.0
    return "\n".join(
        [
            measured,
            "",
            f"- **Image**: {median(size)} MB uncompressed, {median(pushed)} MB as pushed; "
            f"{size_ratio:.2f}x the classic recipe's {median(size, baseline=True)} MB.",
            f"- **Ready**: `docker run` to ready (pipeline loaded) in {median(ready)} s; the "
            f"classic recipe's to health in {median(ready, baseline=True)} s.",
            f"- **App-only edit**: `nox -s build` done in {median(rebuild)} s, its `docker "
            f"build` step {median(docker_step)} s (the classic recipe's build: "
            f"{median(docker_step, baseline=True)} s).",
            f"- **Throughput**: {median(inside)} documents/s in the container, "
            f"{ratio.ours.median:.2f}x the same pipeline on the host.",
            "",
        ]
    )
