"""`nox -s arm64`: the linux/arm64 image, built and proven on this host under QEMU emulation.

1. the arm64 base image: the arm64 one among --base-image, or the Debian-built one (`nox -s
   base-image -- --arch arm64`, made when absent);
2. both platforms in one build (`nox -s build -- --platform linux/amd64,linux/arm64`): the
   host's image as ever, the arm64 one recorded in build/arm64/image.json and tagged
   NER_IMAGE-arm64, and their OCI index in build/index.oci.tar;
3. the index pushed whole to a throwaway local registry, where `docker manifest inspect` must
   list both platforms; and a bundle of both (`nox -s bundle -- --all-platforms`, signed with
   a throwaway key), whose verify-and-load.sh must load each platform's image with its
   recorded ID into an empty Podman store;
4. reproducible: two clean builds for linux/arm64 give the same image ID as each other and as
   the regular build (`nox -s reproduce -- --platform linux/arm64`);
5. the core integration tests (health, readiness, NER in Chromium, the hardened run, contents,
   the registry round trip) against the arm64 image; with --compare, against the host's image
   too, to report how much slower emulation is.

Every step's time goes to build/arm64/summary.json. Other build flags pass through.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ner_build import console, process
from ner_build.browser import evidence
from ner_build.build import base_image, multiplatform
from ner_build.build import command as build
from ner_build.build import options as build_options
from ner_build.engine import setups as engine_setups
from ner_build.engine.docker import Docker
from ner_build.engine.platforms import Platform, check_runnable
from ner_build.engine.registry import local_registry
from ner_build.errors import FailedProcessError
from ner_build.paths import BUILD, ROOT
from ner_build.proofs import engines, reproduce
from ner_build.release import bundle, bundle_files
from ner_build.result import result_path

ARM64 = Platform("arm64")
RESULT = multiplatform.other_platform_record(ARM64)
OUT = RESULT.parent
SUMMARY = OUT / "summary.json"


@dataclass
class Summary:
    platform: str = str(ARM64)
    emulated: bool = True
    base_image: str = ""
    image_id: str = ""
    index_digest: str = ""
    listed_platforms: list[str] = field(default_factory=list)
    bundle_loaded: dict[str, str] = field(default_factory=dict)  # platform -> image ID loaded
    reproducible: bool | None = None
    tests_passed: bool | None = None
    native_tests_passed: bool | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, started: float) -> None:
        self.seconds[name] = round(time.monotonic() - started, 1)

    def write(self, path: Path = SUMMARY) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")


def given_bases(docker: Docker, options: build_options.BuildOptions) -> dict[Platform, str | None]:
    """The host's and arm64's bases among --base-image (None where none is given)."""
    return multiplatform.bases(docker, options.base_image, (Platform.native(), ARM64))


def arm64_base(docker: Docker, options: build_options.BuildOptions, env: Mapping[str, str]) -> str:
    """The base image for arm64: the arm64 one given, else the Debian-built one, made when
    absent."""
    given = given_bases(docker, options)[ARM64]
    if given:
        return given
    tag = base_image.default_tag(ARM64, Platform.native())
    if not docker.image_id(tag):
        console.step(f"building {tag} from Debian's arm64 packages (nox -s base-image)")
        base_image.make(base_image.parse([f"--tag={tag}", "--arch=arm64"], env))
    return tag


def core_tests(result: Path, env: Mapping[str, str], pytest_args: Sequence[str]) -> bool:
    """The core integration tests against the image recorded in result."""
    try:
        process.stream(
            [sys.executable, "-m", "pytest", *engines.CORE_TESTS, *pytest_args],
            cwd=ROOT,
            env=evidence.labelled({**env, "NER_BUILD_RESULT": str(result)}, f"arm64-{result.stem}"),
        )
    except FailedProcessError:
        return False
    return True


def build_both(
    docker: Docker, options: build_options.BuildOptions, arm64_base: str
) -> multiplatform.IndexRecord:
    """Both platforms in one build: the host's on its base given, arm64 on arm64_base."""
    return multiplatform.command(both_options(docker, options, arm64_base), build.command)


def both_options(
    docker: Docker, options: build_options.BuildOptions, arm64_base: str
) -> build_options.BuildOptions:
    host = given_bases(docker, options)[Platform.native()]
    return replace(
        options,
        platform=f"{Platform.native()},{ARM64}",
        base_image=",".join(filter(None, (host, arm64_base))),
    )


def list_in_registry(record: multiplatform.IndexRecord, env: Mapping[str, str]) -> list[str]:
    """Push the index to a throwaway registry; the platforms `docker manifest inspect` lists."""
    registry_dir = tempfile.TemporaryDirectory(prefix="ner-app-registry-", dir=BUILD)
    with registry_dir as folder, local_registry(Path(folder)) as registry:
        reference = f"{registry}/ner-app:{record.ref_name}"
        multiplatform.push(Path(record.archive), reference, tls_verify=False)
        client = multiplatform.manifest_client(env)
        return multiplatform.listed_platforms(client, reference, insecure=True)


def load_from_bundle(env: Mapping[str, str]) -> dict[str, str]:
    """Bundle both platforms, then load each into an empty Podman store with the customer's
    script; the image ID each load gave, by platform ("" when it was refused)."""
    with tempfile.TemporaryDirectory(prefix="ner-app-bundle-", dir=BUILD) as tmp:
        key = Path(tmp) / "key"
        process.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "arm64@ner-app", "-f", key],
            check=True,
        )
        argv = [f"--key={key}", f"--output={tmp}/bundle", "--all-platforms"]
        folder = bundle.make(bundle.parse(argv, env))
        record = multiplatform.IndexRecord.load()
        return {platform: loaded_by_script(folder, platform) for platform in record.images}


def loaded_by_script(folder: Path, platform: str) -> str:
    """verify-and-load.sh for one platform into a Podman store of its own: the loaded ID."""
    with engine_setups.empty_podman_store(platform.replace("/", "-")) as client:
        done = process.run(
            ["sh", folder / bundle_files.SCRIPT, folder],
            env={**client, "NER_PLATFORM": platform},
            check=False,
        )
    print(done.stdout + done.stderr)
    loaded = [
        line.split()[1].rstrip(",")
        for line in done.stdout.splitlines()
        if line.startswith("loaded: ")
    ]
    return loaded[0] if done.returncode == 0 and loaded else ""


def run(args: argparse.Namespace, build_argv: list[str], env: Mapping[str, str]) -> int:
    summary = Summary(emulated=not check_runnable(ARM64))
    options = build_options.parse(build_argv, env)
    docker = Docker.from_string(options.docker)
    docker.check_engine()
    started = time.monotonic()
    summary.base_image = arm64_base(docker, options, env)
    summary.timed("base image", started)
    started = time.monotonic()
    record = build_both(docker, options, summary.base_image)
    summary.timed("build both platforms (arm64 emulated), write the index", started)
    summary.image_id = record.images[str(ARM64)]["image_id"]
    summary.index_digest = record.index_digest
    started = time.monotonic()
    summary.listed_platforms = list_in_registry(record, env)
    summary.timed("push the index, docker manifest inspect", started)
    started = time.monotonic()
    summary.bundle_loaded = load_from_bundle(env)
    summary.timed("bundle both, load each into an empty Podman store", started)
    summary.write()
    listed, recorded = summary.listed_platforms, sorted(record.images)
    if listed != recorded:
        print(f"docker manifest inspect lists {listed}, not {recorded}")
        return 1
    loaded = {platform: image["image_id"] for platform, image in record.images.items()}
    if summary.bundle_loaded != loaded:
        print(f"the bundle's script loaded {summary.bundle_loaded}, not {loaded}")
        return 1
    arm64 = replace(
        options,
        platform=str(ARM64),
        base_image=summary.base_image,
        image=f"{options.image}-arm64",
        result=RESULT,
    )
    started = time.monotonic()
    _, differences = reproduce.reproduce(arm64)
    summary.timed("two clean builds", started)
    summary.reproducible = not differences
    summary.write()
    if differences:
        print("NOT reproducible on linux/arm64: the two clean builds differ")
        print("\n".join(differences))
        return 1
    if not args.no_tests:
        started = time.monotonic()
        summary.tests_passed = core_tests(RESULT, env, args.pytest_args)
        summary.timed("core tests, arm64", started)
    if args.compare:
        started = time.monotonic()
        summary.native_tests_passed = core_tests(result_path(env), env, args.pytest_args)
        summary.timed(f"core tests, {Platform.native()} (native)", started)
    summary.write()
    print(json.dumps(summary.__dict__, indent=2))
    return 0 if summary.tests_passed is not False else 1


def parser() -> argparse.ArgumentParser:
    parser = build_options.tool_parser("nox -s arm64 --", __doc__)
    parser.add_argument("--no-tests", action="store_true", help="build and compare only")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run the core tests against the host's own image (build/image.json), to time "
        "both side by side",
    )
    parser.add_argument(
        "--pytest-arg", dest="pytest_args", action="append", default=[], help="(repeatable)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, build_argv = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    return console.run_main(lambda: run(args, build_argv, os.environ))


if __name__ == "__main__":
    sys.exit(main())
