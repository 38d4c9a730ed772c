"""`nox -s scale`: the built image as 3 replicas behind HAProxy (deploy/compose.yaml), on this
machine's loopback, driven by real Chromium sessions: affinity, its control, a replica killed,
a path prefix, and the same file as a swarm stack with a rolling update.

Results go to build/scale/ (scale.json, scale.md), and with --record to benchmarks/scale.json,
benchmarks/scale.md and the README's scale table, which are committed: a run in CI leaves the
checkout as it found it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ner_build import console, git, process, wait
from ner_build.bench.stats import update_readme
from ner_build.browser import evidence, sessions
from ner_build.build import base_image
from ner_build.deploy import lb_image
from ner_build.deploy.compose import COMPOSE_FILE, Project, Stack, Swarm, memory_mb, stack_file
from ner_build.engine.docker import Docker
from ner_build.engine.setups import ENGINES_DIR, read_env_file
from ner_build.errors import CheckFailed, ToolError
from ner_build.paths import BUILD, RESULT, ROOT
from ner_build.probe import free_port
from ner_build.result import BuildResult

REPLICAS = 3
SESSIONS = 12
NAME = "ner-app-scale"  # the Compose project's and the stack's name: all this tool removes
TAGS = (f"{NAME}:a", f"{NAME}:b")  # the image under test, and the rolling update's new one
CHECK_INTERVAL_S = 2.0  # HAProxy's health-check interval (NER_LB_CHECK_INTERVAL)
LOGS = BUILD / "scale"  # the load balancer's logs and each run's results
FAILURES = evidence.EVIDENCE / "scale"  # what a failed scenario leaves, one folder each
RECORDED = ROOT / "benchmarks"  # the results README.md shows, written with --record
README = ROOT / "README.md"
MARKERS = ("<!-- scale:start -->", "<!-- scale:end -->")
DEFAULT_ENGINE_ENV = ENGINES_DIR / "docker26.env"

Figures = dict[str, Any]


@dataclass
class Outcome:
    """One scenario: whether it proved what it must, why not, and what it measured."""

    name: str
    passed: bool = True
    problems: list[str] = field(default_factory=list)
    figures: Figures = field(default_factory=dict)

    def require(self, condition: bool, problem: str) -> None:
        if not condition:
            self.passed = False
            self.problems.append(problem)


@dataclass(frozen=True)
class Setup:
    docker: Docker  # the engine with Compose v2 (and swarm mode)
    project: Project
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


# One opener for every probe (the samplers call it every 50 ms): a redirect is an answer.
NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


def http_status(url: str, timeout: float = 2.0) -> int:
    """The status an HTTP GET gets (0 when no response came), redirects not followed."""
    try:
        with NO_REDIRECTS.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return 0


def location(url: str) -> str | None:
    """The Location a redirect names, if url answers with one."""
    try:
        NO_REDIRECTS.open(url, timeout=2)
    except urllib.error.HTTPError as error:
        return error.headers.get("Location")
    return None


class Sampler:
    """Calls `probe` every `every` seconds in a thread, keeping (time, result) pairs."""

    def __init__(self, probe: Callable[[], Any], every: float) -> None:
        self.probe, self.every = probe, every
        self.samples: list[tuple[float, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            at = time.monotonic()
            self.samples.append((at, self.probe()))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def first_change(
    samples: Sequence[tuple[float, Any]], after: float, holds: Callable[[Any], bool]
) -> float | None:
    """Seconds from `after` to the first sample taken after it for which holds(value)."""
    return next(
        (round(at - after, 2) for at, value in samples if at >= after and holds(value)), None
    )


def bad_stretch(samples: Sequence[tuple[float, int]]) -> tuple[float, list[int]]:
    """The longest run of bad samples (5xx or no answer): its seconds, and the statuses seen
    in it, which tell a replica's 503 from a load balancer that did not answer (0)."""
    longest: tuple[float, list[int]] = (0.0, [])
    started, seen = None, []
    for at, status in samples:
        bad = not 200 <= status < 400
        if bad:
            started = at if started is None else started
            seen.append(status)
        elif started is not None:
            longest = max(longest, (round(at - started, 2), seen), key=lambda item: item[0])
            started, seen = None, []
    if started is not None and samples:
        longest = max(longest, (round(samples[-1][0] - started, 2), seen), key=lambda x: x[0])
    return longest


RUNTIME_API = (
    "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/tmp/haproxy.sock'); "
    "s.sendall(b'show servers state app\\n'); print(s.makefile().read())"
)


def servers_state(docker: Docker, lb_container: str) -> list[list[str]]:
    """HAProxy's `show servers state app` rows (from its runtime API, through the LB's python3)."""
    result = docker.run("exec", lb_container, "python3", "-c", RUNTIME_API)
    rows = [line.split() for line in result.stdout.splitlines()] if result.returncode == 0 else []
    return [row for row in rows if len(row) > 6 and row[0].isdigit()]


def up_servers(rows: Sequence[Sequence[str]]) -> list[str]:
    """The servers running (op state 2) with an address: the replicas HAProxy sends to."""
    return sorted(row[3] for row in rows if row[4] not in ("-", "0.0.0.0") and row[5] == "2")  # noqa: S104


def servers_up(docker: Docker, lb_container: str) -> list[str]:
    return up_servers(servers_state(docker, lb_container))


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until condition() held; CheckFailed naming what did not happen in time."""
    return wait.seconds_until(condition, timeout_s, what, poll=0.1)


def session_figures(results: Sequence[sessions.SessionResult]) -> Figures:
    """sessions.summarize, and each failed session's replicas and error."""
    failures = [
        {"session": r.index, "replicas": list(r.replicas), "error": r.error}
        for r in results
        if not r.ok
    ]
    return {**sessions.summarize(results), **({"failures": failures} if failures else {})}


def check_sessions(outcome: Outcome, summary: Figures, expected: int) -> None:
    outcome.require(summary["total"] == expected, f"{summary['total']} of {expected} sessions ran")
    outcome.require(summary["failed"] == 0, f"{summary['failed']} sessions failed: {summary}")


# Scenarios -----------------------------------------------------------------------------------


def affinity(setup: Setup) -> Outcome:
    """12 sessions with cookie affinity: every one gets its entities, on every replica."""
    outcome = Outcome("affinity: 12 sessions, 3 replicas")
    results = sessions.run_sessions(setup.url + "/", SESSIONS)
    summary = session_figures(results)
    check_sessions(outcome, summary, SESSIONS)
    served = {name: n for name, n in summary["replicas"].items() if name not in ("spread", "none")}
    outcome.require(len(served) == REPLICAS, f"sessions reached {len(served)} replicas: {served}")
    replicas = setup.project.containers("app")
    outcome.figures = {**summary, "memory_mb": memory_mb(setup.docker, replicas)}
    return outcome


def control(setup: Setup) -> Outcome:
    """The same run with round-robin and no affinity: uploads must fail as Streamlit's issues
    describe, or the affinity run proves nothing."""
    outcome = Outcome("control: no affinity (round-robin)")
    setup.project.with_settings(NER_LB_AFFINITY="none").up()
    try:
        summary = session_figures(sessions.run_sessions(setup.url + "/", SESSIONS))
    finally:
        setup.project.up()  # affinity back on
    outcome.require(summary["failed"] > 0, "every session passed without affinity")
    outcome.figures = summary
    return outcome


def kill_replica(setup: Setup) -> Outcome:
    """A replica crashes while 9 sessions are open over all three."""
    outcome = Outcome("one replica crashed mid-run")
    lb = setup.project.containers("lb")[0]
    wait_until(lambda: len(servers_up(setup.docker, lb)) == REPLICAS, 60, "3 replicas up")
    answers = Sampler(lambda: http_status(setup.url + "/readyz", timeout=5.0), every=0.05)
    servers = Sampler(lambda: servers_up(setup.docker, lb), every=0.2)
    with sessions.open_sessions(setup.url + "/", 9) as pool, answers, servers:
        used = session_figures(pool.analyse_all(round_=0))  # in use when the replica crashes
        victim = busiest_replica([only(result.replicas) for result in pool.opened])
        crashed_at = time.monotonic()
        crash(setup.docker, replica_container(setup, lb, victim))
        later = pool.analyse_all(round_=1)
        fresh = sessions.run_sessions(setup.url + "/", 3)
        wait_until(lambda: len(servers_up(setup.docker, lb)) == REPLICAS, 120, "3 replicas up")
    dropped = first_change(servers.samples, crashed_at, lambda up: victim not in up)
    back = first_change(servers.samples, crashed_at + (dropped or 0), lambda up: victim in up)
    on_victim = {result.index for result in pool.opened if only(result.replicas) == victim}
    others = session_figures([r for r in later if r.index not in on_victim])
    moved = session_figures([r for r in later if r.index in on_victim])
    new = session_figures(fresh)
    check_sessions(outcome, used, 9)
    check_sessions(outcome, others, others["total"])
    check_sessions(outcome, new, 3)
    outage, statuses = bad_stretch(answers.samples)
    outcome.require(
        outage <= CHECK_INTERVAL_S,
        f"the LB answered 5xx for {outage} s (statuses {sorted(set(statuses))}; 0: no answer)",
    )
    outcome.figures = {
        "crashed": victim,
        "dropped_s": dropped,
        "recovered_s": None if back is None else round((dropped or 0) + back, 2),
        "longest_5xx_s": outage,
        "longest_5xx_statuses": dict(Counter(map(str, statuses))),
        "other_sessions": others,
        "new_sessions": new,
        "sessions_of_crashed_replica": moved,
    }
    return outcome


def only(replicas: Sequence[str]) -> str | None:
    """The replica that served a session, when exactly one did."""
    return replicas[0] if len(replicas) == 1 else None


def crash(docker: Docker, container: str) -> None:
    """Kill the container's process with SIGKILL from the host, as a crash would: the restart
    policy then applies (`docker kill` counts as a deliberate stop, which it leaves alone)."""
    pid = int(docker.run("inspect", "--format", "{{.State.Pid}}", container, check=True).stdout)
    try:
        os.kill(pid, signal.SIGKILL)
    except PermissionError:  # not root (a CI runner): its password-less sudo
        process.run(["sudo", "-n", "kill", "-KILL", str(pid)], hint="Run `nox -s scale` as root.")
    except ProcessLookupError as error:
        raise CheckFailed(
            f"Cannot kill {container}'s process {pid} from here ({error}): `nox -s scale` needs "
            "the engine on this host."
        ) from None


def busiest_replica(replicas: Sequence[str | None]) -> str:
    counts: dict[str, int] = {}
    for replica in replicas:
        if replica:
            counts[replica] = counts.get(replica, 0) + 1
    if not counts:
        raise CheckFailed("No session knows its replica: is the X-Ner-Replica header set?")
    return max(sorted(counts), key=lambda name: counts[name])


def replica_container(setup: Setup, lb: str, server: str) -> str:
    """The container behind an HAProxy slot (appN), found by its address."""
    address = next(row[4] for row in servers_state(setup.docker, lb) if row[3] == server)
    template = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    for name in setup.project.containers("app"):
        if setup.docker.run("inspect", "--format", template, name).stdout.strip() == address:
            return name
    raise CheckFailed(f"No container of {NAME} has {server}'s address {address}.")


def prefix(setup: Setup) -> Outcome:
    """Under /ner/ through the proxy, XSRF protection on: sessions and uploads work."""
    outcome = Outcome("path prefix /ner/, XSRF on")
    prefixed = setup.project.with_settings(NER_BASE_PATH="ner")
    prefixed.up()
    try:
        redirect = location(setup.url + "/")
        outcome.require(redirect == "/ner/", f"/ redirects to {redirect!r}, not /ner/")
        summary = session_figures(sessions.run_sessions(setup.url + "/ner/", 6))
    finally:
        setup.project.up()
    check_sessions(outcome, summary, 6)
    outcome.figures = {**summary, "root_redirect": redirect}
    return outcome


def swarm(docker: Docker) -> Outcome:
    """The same compose file as a swarm stack (replicas placed by the orchestrator): the same
    12 sessions through the same HAProxy."""
    outcome = Outcome("swarm stack: 12 sessions, 3 replicas")
    port = free_port()
    stack_yaml = stack_file(COMPOSE_FILE, LOGS / "stack.yaml")
    stack = Stack(docker, NAME, stack_yaml, settings(port))
    console.step(f"swarm stack {NAME}: {REPLICAS} replicas behind HAProxy on :{port}")
    with Swarm(docker):
        stack.deploy()
        try:
            stack.wait_converged("app")
            stack.wait_converged("lb")
            wait_until(lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200, 120, "the LB")
            summary = session_figures(sessions.run_sessions(f"http://127.0.0.1:{port}/", SESSIONS))
            nodes = stack.task_nodes("app")
        finally:
            stack.remove()
    check_sessions(outcome, summary, SESSIONS)
    served = {name for name in summary["replicas"] if name not in ("spread", "none")}
    outcome.require(len(served) == REPLICAS, f"sessions reached {len(served)} replicas")
    outcome.figures = {**summary, "tasks_per_node": {n: nodes.count(n) for n in set(nodes)}}
    return outcome


def rolling_update(setup: Setup) -> Outcome:
    """Every replica replaced by one of a new image tag, one at a time: new replicas start and
    get ready, then each old one is stopped (SIGTERM: it drains) while waves of 3 new
    sessions keep arriving. None of them may fail."""
    outcome = Outcome("rolling update to a new image tag")
    old = setup.project.containers("app")
    newer = setup.project.with_settings(NER_IMAGE=TAGS[1])
    results: list[sessions.SessionResult] = []
    done = threading.Event()
    errors: list[str] = []

    def replace() -> None:
        try:
            newer.compose("up", "--detach", "--wait", "--no-recreate", "--scale",
                          f"app={2 * REPLICAS}")  # fmt: skip
            for name in old:
                setup.docker.run("stop", "--time", "60", name, check=True)
        except ToolError as error:  # reported as the scenario's failure
            errors.append(str(error))
        finally:
            done.set()

    started = time.monotonic()
    threading.Thread(target=replace, daemon=True).start()
    waves = 0
    while not done.is_set():
        results += sessions.run_sessions(setup.url + "/", 3)
        waves += 1
    seconds = round(time.monotonic() - started, 1)
    running = [name for name in setup.project.containers("app") if is_running(setup, name)]
    images = {image_of(setup.docker, name) for name in running}
    summary = session_figures(results)
    outcome.require(not errors, f"the replacement failed: {errors}")
    check_sessions(outcome, summary, summary["total"])
    outcome.require(images == {TAGS[1]}, f"the running replicas run {images}")
    outcome.require(waves >= 2, "the replacement ended before a second wave of sessions")
    outcome.figures = {**summary, "seconds": seconds, "waves": waves, "replicas_now": len(running)}
    return outcome


def is_running(setup: Setup, container: str) -> bool:
    state = setup.docker.run("inspect", "--format", "{{.State.Running}}", container)
    return state.stdout.strip() == "true"


def image_of(docker: Docker, container: str) -> str:
    return docker.run("inspect", "--format", "{{.Config.Image}}", container).stdout.strip()


SCENARIOS: tuple[Callable[[Setup], Outcome], ...] = (
    affinity, control, kill_replica, prefix, rolling_update,
)  # fmt: skip


# Images and engines --------------------------------------------------------------------------


def engine(env_file: Path | None, env: Mapping[str, str]) -> Docker:
    """The engine with Compose v2: from an env file of `nox -s engines`, else DOCKER."""
    if env_file is None:
        return Docker.from_env(env)
    values = read_env_file(env_file)
    extra = {key: value for key, value in values.items() if key != "DOCKER"}
    return Docker.from_string(values["DOCKER"], extra)


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


def settings(port: int) -> dict[str, str]:
    """deploy/compose.yaml's settings for a run: our image, a fresh secret, a loopback port."""
    return {
        "NER_IMAGE": TAGS[0],
        "NER_LB_PORT": str(port),
        "NER_LB_ADDRESS": "127.0.0.1",
        "NER_COOKIE_SECRET": secrets.token_hex(32),
        "NER_REPLICAS": str(REPLICAS),
        "NER_LB_CHECK_INTERVAL": f"{CHECK_INTERVAL_S:g}s",
    }


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


# Report --------------------------------------------------------------------------------------


def markdown(outcomes: Sequence[Outcome], commit: str) -> str:
    rows = [
        f"Measured by `nox -s scale` at {commit}: {REPLICAS} replicas of the built image\n"
        "behind HAProxy (deploy/compose.yaml), real Chromium sessions, one run.\n",
        "| scenario | sessions ok | per replica | figures | result |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        figures = outcome.figures
        ok = f"{figures.get('ok', '-')}/{figures.get('total', '-')}"
        served = ", ".join(f"{k} {v}" for k, v in sorted(figures.get("replicas", {}).items()))
        result = "as required" if outcome.passed else "FAILED: " + "; ".join(outcome.problems)
        rows.append(f"| {outcome.name} | {ok} | {served or '-'} | {brief(figures)} | {result} |")
    return "\n".join(rows) + "\n"


SECONDS = (("dropped_s", "dropped by the LB in"), ("recovered_s", "back in"),
           ("longest_5xx_s", "longest 5xx"), ("seconds", "took"))  # fmt: skip
SESSION_GROUPS = (("other_sessions", "sessions on the others"), ("new_sessions", "new"),
                  ("sessions_of_crashed_replica", "moved from the crashed one"))  # fmt: skip


def brief(figures: Figures) -> str:
    """The scenario's own figures, in a few words."""
    memory = figures.get("memory_mb", {})
    parts = ["memory " + ", ".join(f"{v:.0f}" for v in memory.values()) + " MB"] if memory else []
    errors = figures.get("errors") or {}
    parts += ["errors: " + "; ".join(f"{k} x{v}" for k, v in errors.items())] if errors else []
    parts += [f"{label} {figures[key]} s" for key, label in SECONDS if key in figures]
    parts += [
        f"{label} {figures[key]['ok']}/{figures[key]['total']} ok"
        for key, label in SESSION_GROUPS
        if key in figures
    ]
    if "waves" in figures:
        parts.append(f"{figures['waves']} waves of new sessions")
    return "; ".join(parts) or "-"


def write(outcomes: Sequence[Outcome], commit: str, folder: Path, readme: Path | None) -> None:
    """scale.json and scale.md in the folder, and the table into the readme when one is given."""
    data = {"commit": commit, "replicas": REPLICAS, "scenarios": [vars(o) for o in outcomes]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scale.json").write_text(json.dumps(data, indent=2) + "\n")
    table = markdown(outcomes, commit)
    (folder / "scale.md").write_text("# Scale-out results\n\n" + table)
    if readme:
        update_readme(readme, table, markers=MARKERS)


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
        write(outcomes, commit, RECORDED if args.record else LOGS, README if args.record else None)
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
    cli.add_argument("--result", type=Path, default=RESULT, help="the build's record")
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
        help="write the results to benchmarks/scale.{json,md} and the README's table, which "
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
