"""`nox -s engines`: build this commit on every engine at hand, require one image ID, and run
the core integration tests against each engine's image (the default engine's only with
--test-default: `nox -s integration` runs the whole suite there, and the test command runs both).

An engine is the environment its client needs: DOCKER, plus DOCKER_HOST or CONTAINERS_CONF
where it needs them. The first engine is the one DOCKER names; the others come from env files
(KEY=VALUE lines, shell quoting) in --engines-dir, one per engine: `tools/provision-debian
docker26 containerd-store podman` writes docker26.env (Docker 26 + buildx from Debian 13),
containerd-store.env (that Docker with the containerd image store) and podman.env. The image ID
compared is the config's digest on every engine; the containerd image store names the image by
its manifest's digest, which the build records beside it and the table shows.
Options after `--` other than these go to every build (`nox -s build -- --help`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ner_build import console, process
from ner_build.browser import evidence
from ner_build.build import base_image
from ner_build.build import options as build_options
from ner_build.engine.setups import DEFAULT, ENGINES_DIR, EngineSetup, find_engines
from ner_build.errors import CheckFailed, FailedProcessError
from ner_build.image import compare
from ner_build.paths import BUILD, ROOT
from ner_build.result import BuildResult, result_path

SUMMARY = BUILD / "engines.json"
# What runs on every engine: health, readiness, NER in a real browser, the hardened run, the
# image's contents, the registry round trip and removing tags beside others' containers. The
# whole suite runs on the default engine (`nox -s integration`).
CORE_TESTS = (
    "tests/integration/test_probes.py",
    "tests/integration/test_browser.py",
    "tests/integration/test_hardening.py",
    "tests/integration/test_contents.py",
    "tests/integration/test_publish.py",
    "tests/integration/test_sharing.py",
)
PROVISION_HINT = "On Debian/Ubuntu: `sudo tools/provision-debian docker26 containerd-store podman`."


@dataclass(frozen=True)
class Outcome:
    name: str
    engine: str
    image_id: str
    build_seconds: float
    tests_passed: bool | None = None
    manifest_digest: str = ""  # what an engine with the containerd image store names it by


def ensure_base(setups: Sequence[EngineSetup], base: str) -> None:
    """Copy the base image into each engine that lacks it, from the first that has it."""
    holders = [s.docker for s in setups if s.docker.image_id(base)]
    if not holders:
        return  # each build then pulls it, or fails saying how to get it
    for setup in setups:
        if setup.docker.image_id(base):
            continue
        console.step(f"copying {base} into {setup.name} ({setup.docker})")
        with tempfile.TemporaryDirectory(dir=BUILD) as tmp:
            archive = Path(tmp, "base.tar")
            holders[0].save(base, archive)
            setup.docker.load(archive)


def record_of(setup: EngineSetup) -> Path:
    """Where the engine's build record is kept (build/engines/NAME.json)."""
    return BUILD / "engines" / f"{setup.name}.json"


def build_on(setup: EngineSetup, build_argv: Sequence[str]) -> Outcome:
    console.step(f"building on {setup.name}: DOCKER={setup.env['DOCKER']!r}")
    started = time.monotonic()
    process.stream(
        [sys.executable, "-m", "ner_build.build", *build_argv],
        cwd=ROOT,
        env=setup.env,
        hint=f"The build failed on the engine {setup.name}; its output is above.",
    )
    result = BuildResult.load()
    record_of(setup).parent.mkdir(exist_ok=True)
    record_of(setup).write_text(result_path().read_text())
    seconds = time.monotonic() - started
    return Outcome(
        setup.name, result.engine, result.image_id, seconds, None, result.manifest_digest
    )


def explain(setups: Sequence[EngineSetup], outcomes: Sequence[Outcome]) -> list[str]:
    """The compare report of every engine whose image differs from the first engine's."""
    lines: list[str] = []
    first = (setups[0].docker, outcomes[0].image_id)
    for setup, outcome in zip(setups[1:], outcomes[1:], strict=True):
        if outcome.image_id != outcomes[0].image_id:
            lines.append(f"--- {outcomes[0].name} against {outcome.name}:")
            ref = outcome.manifest_digest or outcome.image_id
            lines += compare.compare_images(first, (setup.docker, ref))
    return lines


def test_on(setup: EngineSetup, pytest_args: Sequence[str]) -> bool:
    """The core tests against the engine's own build record (NER_BUILD_RESULT): the image ID
    is every engine's, but the containerd image store knows the image by its manifest."""
    console.step(f"core integration tests on {setup.name}")
    record = {"NER_BUILD_RESULT": str(record_of(setup))}
    try:
        process.stream(
            [sys.executable, "-m", "pytest", *CORE_TESTS, *pytest_args],
            cwd=ROOT,
            env={**evidence.labelled(setup.env, f"engine-{setup.name}"), **record},
        )
    except FailedProcessError:
        return False
    return True


def add_engine_options(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    """--engines-dir and --require, as every proof over the engines takes them."""
    parser.add_argument(
        "--engines-dir",
        type=Path,
        default=Path(env.get("NER_ENGINES_DIR") or ENGINES_DIR),
        help=f"where the engines' env files are (default {ENGINES_DIR}) [NER_ENGINES_DIR]",
    )
    parser.add_argument(
        "--require", type=int, default=3, help="fail with fewer engines than this (default 3)"
    )


def engines_for(args: argparse.Namespace, env: Mapping[str, str]) -> list[EngineSetup]:
    """The engines at hand (DOCKER's, then one per env file); CheckFailed with fewer than
    --require, saying how to provision the others."""
    setups = find_engines(args.engines_dir, env)
    if len(setups) < args.require:
        raise CheckFailed(
            f"Found {len(setups)} engine(s) (DOCKER and {args.engines_dir}/*.env); "
            f"this proof needs at least {args.require}. {PROVISION_HINT}"
        )
    return setups


def tested(setup: EngineSetup, args: argparse.Namespace) -> bool:
    """The default engine's image gets the whole integration suite from `nox -s integration`
    (the test command runs both), so the core tests run there only with --test-default."""
    return setup.name != DEFAULT or args.test_default


def report(outcomes: Sequence[Outcome]) -> None:
    """The table: the image ID is the config's digest everywhere; the manifest digest is what
    an engine with the containerd image store names the image by."""
    named = "named by its manifest digest"  # the manifest's line, in the built-with column
    width = max(len("built with"), len(named), *(len(o.engine) for o in outcomes))
    print(f"\n{'engine':<16} {'built with':<{width}} build s  tests  image ID (config digest)")
    for o in outcomes:
        tests = {None: "-", True: "pass", False: "FAIL"}[o.tests_passed]
        print(f"{o.name:<16} {o.engine:<{width}} {o.build_seconds:7.1f}  {tests:<5}  {o.image_id}")
        if o.manifest_digest:
            print(f"{'':<16} {named:<{width}} {'':7}  {'':<5}  {o.manifest_digest}")
    SUMMARY.write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")


def run(args: argparse.Namespace, build_argv: list[str], env: Mapping[str, str]) -> int:
    setups = engines_for(args, env)
    for setup in setups:
        console.step(f"{setup.name}: {setup.docker.check_engine()}")
    options = build_options.parse(build_argv, env)
    ensure_base(setups, options.base_image or base_image.pinned(build_options.dockerfile(options)))
    outcomes = [build_on(setup, build_argv) for setup in setups]
    report(outcomes)
    if len({o.image_id for o in outcomes}) > 1:
        print("\n".join(["", "The engines built different images:", *explain(setups, outcomes)]))
        return 1
    print(f"\none image on {len(outcomes)} engines: {outcomes[0].image_id}")
    if args.no_tests:
        return 0
    passed = [
        replace(o, tests_passed=test_on(s, args.pytest_args) if tested(s, args) else None)
        for s, o in zip(setups, outcomes, strict=True)
    ]
    report(passed)
    failed = [o.name for o in passed if o.tests_passed is False]
    if failed:
        print(f"core integration tests failed on: {', '.join(failed)}")
        return 1
    return 0


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nox -s engines --", description=__doc__)
    add_engine_options(parser, env)
    parser.add_argument("--no-tests", action="store_true", help="build and compare only")
    parser.add_argument(
        "--test-default",
        action="store_true",
        help="run the core tests on the default engine too (nox -s integration runs them all)",
    )
    parser.add_argument(
        "--pytest-arg", dest="pytest_args", action="append", default=[], help="(repeatable)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, build_argv = parser(os.environ).parse_known_args(sys.argv[1:] if argv is None else argv)
    return console.run_main(lambda: run(args, build_argv, os.environ))


if __name__ == "__main__":
    sys.exit(main())
