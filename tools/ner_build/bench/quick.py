"""`nox -s bench -- --quick`: the bench's short form, which the test command runs so that a
change that breaks the bench, or the seed recipe's build, shows in CI.

Both images are built once on the build cache (HEAD in a temporary worktree, as the full bench
does, and the seed recipe), then measured once each: size in the engine, `docker run` to ready
(the seed recipe's health: it has no readiness), and an app-only edit rebuilt, our
`python -m ner_build.build` end to end and its `docker build` step beside the seed recipe's.
Nothing else starts meanwhile. The numbers go to build/bench/quick.{json,md} and stdout; no
budget is asserted (one run, on a machine busy with CI), only that every figure was measured.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from ner_build import console
from ner_build.bench import builds, runtime
from ner_build.bench.measurements import WORK, image_size_mb, time_to_ready
from ner_build.bench.stats import Budget, Results, markdown
from ner_build.build import model
from ner_build.build import options as build_options
from ner_build.engine.docker import Docker

QUICK_OUT = WORK / "quick"
REBUILD_TOOL = "app-only edit → python -m ner_build.build done"
FIGURES = (builds.IMAGE, runtime.READY, builds.REBUILD, REBUILD_TOOL)


def measure(options: build_options.BuildOptions) -> Results:
    """Both images built, then one measurement of each figure in FIGURES."""
    docker = Docker.from_string(options.docker)
    docker.check_engine()
    WORK.mkdir(parents=True, exist_ok=True)
    wheel = builds.resolve_model_wheel(options)
    package = model.inspect(wheel).package
    results = Results()
    with builds.worktree() as tree:
        console.step("bench --quick: building HEAD in the worktree (on the build cache)")
        builds.build_ours(tree, options)
        console.step("bench --quick: building the seed recipe (on the build cache)")
        context = builds.seed_context(tree, wheel)
        builds.timed_build(docker, builds.seed_build_args(context, options, package))
        console.step("bench --quick: an app-only edit, then our build and the seed recipe's")
        builds.edit_app(tree / "src", 0)
        started = time.monotonic()
        ours = builds.build_ours(tree, options)
        whole = time.monotonic() - started
        builds.edit_app(context / "src", 0)
        seed = builds.timed_build(docker, builds.seed_build_args(context, options, package))
    results.add(builds.REBUILD, "s", [ours.seconds["build"]], [seed])
    results.add(REBUILD_TOOL, "s", [whole])
    seed_ref = f"{builds.SEED}:latest"
    console.step("bench --quick: image sizes in the engine")
    sizes = [image_size_mb(docker, ref) for ref in (ours.image_id, seed_ref)]
    results.add(builds.IMAGE, "MB", [sizes[0]], [sizes[1]])
    console.step("bench --quick: `docker run` to ready (ours) and to health (the seed recipe)")
    ready = time_to_ready(docker, ours.image_id, path=runtime.OURS_READY)
    health = time_to_ready(docker, seed_ref, path=runtime.SEED_READY)
    results.add(runtime.READY, "s", [ready], [health])
    return results


def missing(results: Results) -> list[str]:
    """The figures of FIGURES the results lack."""
    measured = {figure.name for figure in results.figures}
    return [name for name in FIGURES if name not in measured]


def write(results: Results, budgets: list[Budget], commit: str) -> str:
    """build/bench/quick.md and quick.json; the table (with the budgets' verdicts, shown, not
    asserted) is returned."""
    measured = {figure.name for figure in results.figures}
    shown = [budget for budget in budgets if budget.figure in measured]
    note = f"One run of each, `nox -s bench -- --quick` at {commit}: not the recorded figures."
    table = markdown(results, shown, note)
    QUICK_OUT.mkdir(parents=True, exist_ok=True)
    (QUICK_OUT / "quick.md").write_text(table)
    payload = {"note": note, "figures": [asdict(figure) for figure in results.figures]}
    (QUICK_OUT / "quick.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return table
