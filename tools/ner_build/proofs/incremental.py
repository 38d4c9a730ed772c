"""`nox -s incremental`: on every engine, an app-only edit built incrementally gives the very
image a clean build of the same edit gives.

In a git worktree of HEAD (the checkout is not touched), on each engine `nox -s engines` finds:
a build, which fills the worktree's store of canonical layers (ner_build.image.layer_store);
an app-only edit (a new line in the app's examples); the incremental build (the engine's build
cache and the store of canonical layers, and on Docker a load of the new layers only); then
the same edit built again with --no-cache, which reads neither. The two must be the same image:
one config digest (the image ID) and, on Docker's containerd image store, one manifest digest
(BuildKit's cached rebuilds can get new digests there, moby/moby#48391; the canonical form we
load is written from the layers' contents, so that does not reach our image). The image ID
must be equal on every engine too (each gets the same edit). The report gives each build's seconds
and the layers reused; build/incremental.json keeps it. Options other than these go to every
build (`nox -s build -- --help`).

Its own session, not the test command's: three builds on each of four engines take about
seven minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ner_build import console, git, process
from ner_build.bench.builds import edit_app
from ner_build.build import base_image, model
from ner_build.build import options as build_options
from ner_build.engine.setups import EngineSetup
from ner_build.paths import BUILD, ROOT
from ner_build.proofs.engines import add_engine_options, engines_for, ensure_base
from ner_build.result import BuildResult, same_image

IMAGE = "ner-app-incremental"
TREE = BUILD / "incremental-worktree"
SUMMARY = BUILD / "incremental.json"


@dataclass(frozen=True)
class Build:
    image_id: str
    manifest_digest: str  # what the containerd image store names it by; "" elsewhere
    seconds: float
    written: int  # canonical layers encoded by this build
    reused: int  # and taken from the store
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    engine: str
    incremental: Build
    clean: Build

    @property
    def same(self) -> bool:
        return same_image(self.incremental, self.clean)


def build_in(tree: Path, setup: EngineSetup, argv: Sequence[str]) -> Build:
    """`nox -s build` in the worktree on the engine; its image, seconds and layer counts."""
    started = time.monotonic()
    process.stream(
        [sys.executable, "-m", "ner_build.build", *argv],
        cwd=tree,
        env={**setup.env, "PYTHONPATH": str(tree / "tools")},
        hint=f"The build in {tree} failed on the engine {setup.name}; its output is above.",
    )
    seconds = time.monotonic() - started
    result = BuildResult.load(tree / "build" / "image.json")
    layers = result.canonical_layers
    written, reused = layers["written"], layers["reused"]
    return Build(
        result.image_id, result.manifest_digest, seconds, written, reused, tuple(result.tags)
    )


def prove_on(
    setup: EngineSetup, tree: Path, options: build_options.BuildOptions, edit: str
) -> Outcome:
    argv = build_options.to_argv(replace(options, docker=setup.env["DOCKER"]))
    console.step(f"{setup.name}: a build of HEAD, which fills the store of canonical layers")
    git.run(tree, "checkout", "--", ".")
    first = build_in(tree, setup, argv)
    edit_app(tree / "src", 0, edit)
    console.step(f"{setup.name}: the app edited, built incrementally")
    incremental = build_in(tree, setup, argv)
    console.step(f"{setup.name}: the same edit, built with --no-cache")
    clean = build_in(tree, setup, [*argv, "--buildx-arg=--no-cache"])
    for tag in sorted({*first.tags, *incremental.tags, *clean.tags}):
        setup.docker.untag(tag)
    return Outcome(setup.name, incremental, clean)


def report(outcomes: Sequence[Outcome]) -> None:
    """The table; where the store names the image by its manifest, that digest below its ID."""
    header = f"{'engine':<16} {'incremental s':>13} {'reused':>6} {'clean s':>8}  same  image ID"
    digests = header.index("image ID")  # the column the digests start in
    print(f"\n{header}")
    for o in outcomes:
        inc, clean = o.incremental, o.clean
        print(
            f"{o.engine:<16} {inc.seconds:13.1f} {inc.reused:6} {clean.seconds:8.1f}  "
            f"{'yes' if o.same else 'NO':<4}  {inc.image_id}"
        )
        if inc.manifest_digest:
            print(f"{'':<{digests}}manifest {inc.manifest_digest}")
        if not o.same:
            print(f"{'clean build':<{digests}}{clean.image_id} {clean.manifest_digest}".rstrip())
    SUMMARY.write_text(
        json.dumps([{**asdict(o), "same": o.same} for o in outcomes], indent=2) + "\n"
    )


def run(args: argparse.Namespace, build_argv: list[str], env: Mapping[str, str]) -> int:
    setups = engines_for(args, env)
    options = build_options.parse(build_argv, env)
    if args.stand_in:
        options = replace(options, model_wheel=model.stand_in_wheel())
    ensure_base(setups, options.base_image or base_image.pinned(build_options.dockerfile(options)))
    options = replace(options, image=IMAGE, result=None)
    with git.worktree(ROOT, TREE) as tree:
        edit = uuid.uuid4().hex  # the same edit on every engine: one image ID
        outcomes = [prove_on(setup, tree, options, edit) for setup in setups]
    report(outcomes)
    if not all(o.same for o in outcomes) or not all(o.incremental.reused for o in outcomes):
        print("\nAn incremental build differs from the clean build, or reused no layer.")
        return 1
    if len({o.incremental.image_id for o in outcomes}) > 1:
        print("\nThe engines built different images of the same edit.")
        return 1
    print(f"\none image on {len(outcomes)} engines, the incremental build the clean build's")
    return 0


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nox -s incremental --", description=__doc__)
    add_engine_options(parser, env)
    parser.add_argument(
        "--stand-in",
        action="store_true",
        help="build with the trained stand-in for the default pipeline (docker/model.toml)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, build_argv = parser(os.environ).parse_known_args(sys.argv[1:] if argv is None else argv)
    return console.run_main(lambda: run(args, build_argv, os.environ))


if __name__ == "__main__":
    sys.exit(main())
