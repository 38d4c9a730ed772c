"""`nox -s scale`: the built image as 3 replicas behind HAProxy (deploy/compose.yaml), on this
machine's loopback, driven by real Chromium sessions: affinity, its control, a replica killed,
a path prefix, and the same file as a swarm stack with a rolling update.

The scenarios live in deploy/scenarios.py. Results go to build/scale/ (scale.json, scale.md),
and with --record to benchmarks/scale.json, benchmarks/scale.md and benchmarks/README.md's
scale table, which are committed: a run in CI leaves the checkout as it found it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ner_build import console, git
from ner_build.browser import evidence, sessions
from ner_build.build import base_image
from ner_build.deploy import lb_image
from ner_build.deploy.compose import Project
from ner_build.deploy.scale_report import write
from ner_build.deploy.scenarios import (
    LOGS,
    NAME,
    REPLICAS,
    SCENARIOS,
    TAGS,
    Outcome,
    Setup,
    settings,
    swarm,
)
from ner_build.engine.docker import Docker
from ner_build.engine.setups import ENGINES_DIR, EngineSetup, read_env_file
from ner_build.errors import CheckFailed
from ner_build.paths import BENCHMARKS, BENCHMARKS_README, BUILD, ROOT
from ner_build.probe import free_port
from ner_build.result import BuildResult, result_path

FAILURES = evidence.EVIDENCE / "scale"  # what a failed scenario leaves, one folder each
DEFAULT_ENGINE_ENV = ENGINES_DIR / "docker26.env"


def engine(env_file: Path | None, env: Mapping[str, str]) -> Docker:
    """The engine with Compose v2: from an env file of `nox -s engines`, else DOCKER."""
    if env_file is None:
        return Docker.from_env(env)
    return EngineSetup(env_file.stem, read_env_file(env_file)).docker


def ensure_in(target: Docker, source: Docker, ref: str) -> None:
    """Copy an image from source's engine into target's when target lacks it."""
    if target.image_id(ref):
        return
    if not source.image_id(ref):
        raise CheckFailed(f"{ref} is in neither engine: build it first (`nox -s build`).")
    console.step(f"copying {ref} into {target}")
    with tempfile.TemporaryDirectory(dir=BUILD) as tmp:
        archive = Path(tmp, "image.tar")
        source.save(ref, archive)
        target.load(archive)


def prepare_images(docker: Docker, source: Docker, built: BuildResult, base: str) -> None:
    """The built image as NAME:a, a rebuild of it with one label more as NAME:b (a new image
    for the rolling update), and the load balancer's image."""
    ensure_in(docker, source, built.image_id)
    docker.tag(built.image_id, [TAGS[0]])
    with tempfile.TemporaryDirectory(dir=BUILD) as context:
        Path(context, "Dockerfile").write_text(f"FROM {TAGS[0]}\nLABEL io.ner-app.rollout=b\n")
        docker.build("--tag", TAGS[1], context)
    ensure_in(docker, source, base)
    lb_image.build(docker, base)


@contextmanager
def deployed(docker: Docker) -> Iterator[Setup]:
    """The compose project up with affinity on a free loopback port; removed afterwards."""
    port = free_port()
    project = Project(docker, NAME, settings(port))
    console.step(f"Compose {project.check()}: {REPLICAS} replicas behind HAProxy on :{port}")
    project.up()
    try:
        yield Setup(docker, project, port)
    finally:
        project.down()


def attempt(
    name: str, scenario: Callable[[], Outcome], containers: Callable[[], list[str]], docker: Docker
) -> Outcome:
    """Run a scenario and say how it went; one that cannot finish fails with the reason. A
    failed one keeps its failed sessions' evidence and its containers' logs and inspects in
    build/failures/scale/NAME/ (sessions that fail as a control requires leave nothing)."""
    console.step(f"scenario: {name}")
    with tempfile.TemporaryDirectory(prefix="ner-scale-") as staging:
        with sessions.evidence_into(Path(staging)):
            try:
                outcome = scenario()
            except CheckFailed as error:
                outcome = Outcome(name, passed=False, problems=[str(error)])
        if not outcome.passed:
            kept = FAILURES / name
            shutil.copytree(staging, kept, dirs_exist_ok=True)
            for container in containers():
                evidence.keep_container(docker, container, kept / "containers")
    verdict = "as required" if outcome.passed else f"FAILED: {'; '.join(outcome.problems)}"
    console.step(f"{outcome.name}: {verdict}\n{json.dumps(outcome.figures, indent=1)}")
    return outcome


def keep_logs(setup: Setup) -> None:
    """The load balancer's log (one line per request, with the replica) in build/scale/."""
    LOGS.mkdir(parents=True, exist_ok=True)
    for container in setup.project.containers("lb"):
        log = setup.docker.run("logs", "--timestamps", container)
        (LOGS / f"{container}.log").write_text(log.stdout + log.stderr)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    docker = engine(args.engine_env, env)
    built = BuildResult.load(args.result)
    prepare_images(docker, Docker.from_env(env), built, args.base_image)
    outcomes: list[Outcome] = []
    try:
        chosen = [s for s in SCENARIOS if not args.only or s.__name__ in args.only]
        with deployed(docker) as setup:
            try:
                for scenario in chosen:
                    run_scenario = functools.partial(scenario, setup)
                    outcomes.append(
                        attempt(
                            scenario.__name__, run_scenario, setup.project.all_containers, docker
                        )
                    )
            finally:
                keep_logs(setup)
        if not args.only or "swarm" in args.only:
            # (the stack and its containers are gone when swarm() returns: sessions only)
            outcomes.append(attempt("swarm", lambda: swarm(docker), lambda: [], docker))
    finally:
        for tag in reversed(TAGS):
            docker.untag(tag)
    if not args.only:
        commit = git.revision(ROOT)[:7]
        folder, readme = (BENCHMARKS, BENCHMARKS_README) if args.record else (LOGS, None)
        write(outcomes, commit, folder, readme)
    return 0 if all(outcome.passed for outcome in outcomes) else 1


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="nox -s scale --", description=__doc__)
    default_env = DEFAULT_ENGINE_ENV if DEFAULT_ENGINE_ENV.exists() else None
    cli.add_argument(
        "--engine-env",
        type=Path,
        default=default_env,
        help="an engine's settings (DOCKER=..., DOCKER_HOST=...) with Compose v2 "
        f"(default: {DEFAULT_ENGINE_ENV} when present, else DOCKER)",
    )
    cli.add_argument(
        "--result",
        type=Path,
        default=result_path(env),
        help="the build's record [NER_BUILD_RESULT]",
    )
    names = [scenario.__name__ for scenario in SCENARIOS] + ["swarm"]
    cli.add_argument(
        "--only",
        action="append",
        choices=names,
        help="run this scenario only (repeatable; default: all); the results files are not "
        "written then",
    )
    cli.add_argument(
        "--record",
        action="store_true",
        help="write the results to benchmarks/scale.{json,md} and benchmarks/README.md's "
        "table, which "
        f"are committed (default: {LOGS.relative_to(ROOT)}/ only)",
    )
    cli.add_argument(
        "--base-image",
        default=env.get("NER_BASE_IMAGE") or base_image.pinned(),
        help="the load balancer's base image (default: the app's)",
    )
    return cli


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    args = parser(env).parse_args(argv)
    return console.run_main(lambda: run(args, env))


if __name__ == "__main__":
    raise SystemExit(main())
