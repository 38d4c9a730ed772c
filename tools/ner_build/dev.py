"""The README's two commands, from a fresh clone with nothing but Python and a container engine.

    script/up      build the image (falling back to local stand-ins, loudly, where the pinned
                   base image or model cannot be had) and serve the app
    script/test    every check CI runs; on a Debian/Ubuntu host it first provisions the engines
                   (Docker 20.10, Docker 26 beside it, Podman), Chromium and the other tools

Both install their tools (Poetry with its export plugin, nox, uv) hash-checked first (see
bootstrap.py). Only the standard library is used here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ner_build import bootstrap, console, diskspace, probe, process
from ner_build.browser import evidence
from ner_build.build import base_image
from ner_build.engine import setups
from ner_build.engine.docker import START_ENGINE_HINT, Docker
from ner_build.engine.setups import ENGINES_DIR
from ner_build.errors import BaseImageUnavailable, CheckFailed
from ner_build.paths import ROOT, TEST_PIPELINE
from ner_build.result import BuildResult

CLIENTS = ("docker", "/usr/bin/docker")  # tried in order when DOCKER is not set
PROVISION = ROOT / "tools" / "provision-debian"
TEST_WHEEL = TEST_PIPELINE / "en_ner_test-0.1.0-py3-none-any.whl"
TEST_IMAGE = "ner-app-test"  # what script/test builds
STARTED_BY = "io.ner-app.started-by=script/up"  # marks the containers `up` may replace
READY_TIMEOUT = 120
QUICK = {"lint", "tests"}  # the sessions tagged quick in the noxfile: no engine, no provisioning


def docker_client(env: Mapping[str, str]) -> Docker:
    """DOCKER if set, else the first client whose engine answers and whose build has BuildKit."""
    if env.get("DOCKER"):
        return Docker.from_env(env)
    problems = []
    for candidate in CLIENTS:
        docker = Docker.from_string(candidate)
        try:
            docker.check_engine()
            docker.check_buildkit()
        except CheckFailed as error:
            problems.append(f"{candidate}: {str(error).splitlines()[0]}")
            continue
        return docker
    raise CheckFailed(
        "No docker client here has both a running engine and BuildKit:\n  "
        + "\n  ".join(problems)
        + f"\n{START_ENGINE_HINT}"
    )


def is_debian_like() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def provision(groups: Sequence[str]) -> None:
    """Install and start what the groups need on a Debian/Ubuntu host (root, or through sudo)."""
    if not is_debian_like():
        console.step("not a Debian/Ubuntu host: install the engine and tools yourself (README)")
        return
    command = ["bash", str(PROVISION), *groups]
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise CheckFailed(
                f"Provisioning ({', '.join(groups)}) needs root: run `sudo {PROVISION} "
                f"{' '.join(groups)}` once, or set NER_PROVISION=0 if the host is ready."
            )
        command.insert(0, "sudo")
    console.step(f"provisioning this host: {', '.join(groups)}")
    process.stream(command)


def base_image_for_tests(docker: Docker, env: Mapping[str, str]) -> str:
    """NER_BASE_IMAGE, else the pinned base when it can be had, else the Debian-built one."""
    if env.get("NER_BASE_IMAGE"):
        return env["NER_BASE_IMAGE"]
    pinned, stand_in = base_image.pinned(), base_image.DEFAULT_TAG
    try:
        docker.ensure_image(pinned, hint="")
    except BaseImageUnavailable:
        console.warn(
            "the pinned base image cannot be pulled",
            [f"{pinned} is not in the engine and pulling it failed (no registry?).",
             f"The tests use {stand_in}, built here from Debian packages (nox -s base-image).",
             "To test on the pinned base, run where it can be pulled, or `docker load` it."],
        )  # fmt: skip
        return stand_in
    return pinned


def session_environment(docker: Docker, env: Mapping[str, str]) -> dict[str, str]:
    """What every nox session of these commands gets: the tools, the client, the CA bundle."""
    values = {**bootstrap.tools_environment(env), "DOCKER": str(docker)}
    ca_bundle = env.get("SSL_CERT_FILE")  # the trust this host uses, for the build's downloads
    if not env.get("NER_CA_BUNDLE") and ca_bundle and Path(ca_bundle).is_file():
        values["NER_CA_BUNDLE"] = ca_bundle
    return values


def nox(args: Sequence[str], env: Mapping[str, str]) -> None:
    process.stream(["nox", *args], cwd=ROOT, env=env)


def selected_sessions(nox_args: Sequence[str]) -> set[str] | None:
    """The sessions `-s/--session/--sessions NAME...` select; None when none are named (nox then
    runs its defaults, or `-t`/`-k` choose)."""
    names: list[str] = []
    taking = False
    for arg in nox_args:
        if arg in ("-s", "-e", "--session", "--sessions"):
            taking = True
        elif arg.startswith("--session=") or arg.startswith("--sessions="):
            names.append(arg.partition("=")[2])
            taking = False
        elif arg.startswith("-"):
            taking = False
        elif taking:
            names.append(arg)
    return set(names) if names else None


def run_checks(nox_args: Sequence[str], env: Mapping[str, str] = os.environ) -> None:
    """Provision (Debian/Ubuntu), bootstrap the tools, then run nox: every session CI runs.
    Only lint and the unit tests (QUICK) run at once: they need no engine and no provisioning."""
    selected = selected_sessions(nox_args)
    if selected is not None and selected <= QUICK:
        console.step(f"{', '.join(sorted(selected))}: no engine or provisioning needed")
        run_keeping_evidence(nox_args, {**env, **bootstrap.tools_environment(env)})
        return
    if env.get("NER_PROVISION", "1") != "0":
        provision(["engine", "base-image", "browser", "registry", "docker26", "containerd-store",
                   "podman", "lb", "load"])  # fmt: skip
    docker = docker_client(env)
    check_disk_space(docker, env)
    session_env = session_environment(docker, env)
    base = base_image_for_tests(docker, env)
    if base == base_image.DEFAULT_TAG and not docker.image_id(base):
        nox(["-s", "base-image", "--", f"--tag={base}"], {**env, **session_env})
    session_env |= test_settings(base, env)
    run_keeping_evidence(nox_args, {**env, **session_env})


def test_settings(base: str, env: Mapping[str, str]) -> dict[str, str]:
    """The base, the model and the image name the checks build with (each as env sets it)."""
    return {
        "NER_BASE_IMAGE": base,
        "NER_MODEL_WHEEL": env.get("NER_MODEL_WHEEL") or str(TEST_WHEEL),
        # Its own repository name: the user's `script/up` tags (ner-app:*) stay where they are.
        "NER_IMAGE": env.get("NER_IMAGE") or TEST_IMAGE,
    }


def run_keeping_evidence(nox_args: Sequence[str], env: Mapping[str, str]) -> None:
    """nox, after clearing an earlier run's evidence; the folders a failure left are named at
    the end, whatever the outcome."""
    evidence.clear()
    try:
        nox(nox_args, env)
    finally:
        for line in evidence.report():
            print(line, file=sys.stderr, flush=True)


def check_disk_space(docker: Docker, env: Mapping[str, str]) -> None:
    """Stop before anything runs when the checkout's, the temporary folder's or the engine's
    file system has less free space than the run needs: less where the engines' build caches
    already hold earlier runs' layers (diskspace.needed; NER_MIN_FREE_GB sets it, 0 skips)."""
    set_here = bool(env.get(diskspace.NEEDED_ENV))
    need = diskspace.needed(env, 0 if set_here else build_caches_bytes(docker, env))
    if need.gb <= 0:
        return
    places = {"the checkout": ROOT, "the temporary folder": Path(tempfile.gettempdir())}
    data_root = docker.data_root()
    if data_root:
        places[f"the data root of {docker}"] = data_root
    diskspace.check(places, need)


def build_caches_bytes(docker: Docker, env: Mapping[str, str]) -> int:
    """What the build caches of this engine and of the provisioned ones (ENGINES_DIR) hold."""
    others = [setup.docker for setup in setups.find_engines(ENGINES_DIR, env)[1:]]
    return sum(engine.build_cache_bytes() for engine in [docker, *others])


def serve(port: int, name: str, env: Mapping[str, str] = os.environ) -> None:
    """Build with fallbacks allowed, then run the image hardened and wait until it is ready."""
    if env.get("NER_PROVISION", "1") != "0" and is_debian_like() and os.geteuid() == 0:
        provision(["engine", "base-image"])
    docker = docker_client(env)
    session_env = session_environment(docker, env) | {"NER_ALLOW_FALLBACKS": "1"}
    nox(["-s", "build"], {**env, **session_env})
    built = BuildResult.load()
    replace_own_container(docker, name)
    docker.run(
        "run", "--detach", f"--name={name}", f"--label={STARTED_BY}",
        f"--publish=127.0.0.1:{port}:8501", "--read-only", "--tmpfs=/tmp", "--cap-drop=ALL",
        "--security-opt=no-new-privileges", built.image_id, check=True,
    )  # fmt: skip
    address = f"http://localhost:{port}"
    if not probe.wait_until_answers(f"{address}/readyz", READY_TIMEOUT):
        logs = docker.run("logs", "--tail=30", name).stdout
        raise CheckFailed(
            f"The app did not get ready within {READY_TIMEOUT} s. Its last log lines:\n{logs}\n"
            f"See `{docker} logs {name}`; remove it with `{docker} rm -f {name}`."
        )
    announce(docker, name, address, built)


def replace_own_container(docker: Docker, name: str) -> None:
    """Remove a container of this name that `up` started before; refuse anyone else's."""
    found = docker.run("container", "inspect", "--format", "{{json .Config.Labels}}", name)
    if found.returncode:
        return
    labels = json.loads(found.stdout or "null") or {}
    key, _, value = STARTED_BY.partition("=")
    if labels.get(key) != value:
        raise CheckFailed(
            f"A container named {name} exists and was not started by script/up; it is left "
            "alone. Remove it yourself or choose another name with --name."
        )
    docker.run("rm", "--force", name, check=True)


def announce(docker: Docker, name: str, address: str, built: BuildResult) -> None:
    print(f"\nner-app is ready at {address}  (image {built.tags[1]})")
    if built.stand_ins:
        print(
            f"built with local stand-ins for: {', '.join(built.stand_ins)} (see the warning above)"
        )
    print(f"logs: {docker} logs -f {name}    stop: {docker} rm -f {name}")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="script/{up,test}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up",
        help="build the image and serve the app",
        description="Build the image (stand-ins allowed where this host has no registry), run "
        "it hardened and wait until the app answers; it keeps running after this returns.",
    )
    up.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("NER_PORT", "8501")),
        help="the host port to serve on (default: NER_PORT, else 8501)",
    )
    up.add_argument(
        "--name",
        default=os.environ.get("NER_CONTAINER", "ner-app"),
        help="the container's name (default: NER_CONTAINER, else ner-app); one of that name "
        "that script/up started is replaced, anyone else's is left alone",
    )
    commands.add_parser(
        "test", help="every check CI runs; arguments go to nox (script/test -s lint)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["test"] and argv[1:2] not in (["-h"], ["--help"]):
        nox_args = argv[1:]  # nox's own flags, passed on untouched

        def checks() -> None:
            bootstrap.check_python()
            run_checks(nox_args)

        return console.run_main(checks)
    args = parser().parse_args(argv)

    def up() -> None:
        bootstrap.check_python()
        serve(args.port, args.name)

    return console.run_main(up)


if __name__ == "__main__":
    sys.exit(main())
