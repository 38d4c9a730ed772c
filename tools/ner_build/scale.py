"""`nox -s scale`: the built image as 3 replicas behind HAProxy (deploy/compose.yaml), on this
machine's loopback, driven by real Chromium sessions: affinity, its control, a replica killed,
a path prefix, and the same file as a swarm stack with a rolling update.

Results go to benchmarks/scale.json, benchmarks/scale.md and the README's scale table.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import signal
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ner_build import base_image, console, git, lb_image, sessions
from ner_build.benchstats import update_readme
from ner_build.compose import COMPOSE_FILE, Project, Stack, Swarm, memory_mb, stack_file
from ner_build.docker import Docker
from ner_build.engines import ENGINES_DIR, read_env_file
from ner_build.errors import CheckFailed
from ner_build.paths import BUILD, RESULT, ROOT
from ner_build.result import BuildResult

REPLICAS = 3
SESSIONS = 12
NAME = "ner-app-scale"  # the Compose project's and the stack's name: all this tool removes
TAGS = (f"{NAME}:a", f"{NAME}:b")  # the image under test, and the rolling update's new one
CHECK_INTERVAL_S = 2.0  # HAProxy's health-check interval (NER_LB_CHECK_INTERVAL)
RESULTS_JSON = ROOT / "benchmarks" / "scale.json"
RESULTS_MD = ROOT / "benchmarks" / "scale.md"
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http_status(url: str, timeout: float = 2.0) -> int:
    """The status an HTTP GET gets (0 when no response came), redirects not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_: Any, **__: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return 0


def location(url: str) -> str | None:
    """The Location a redirect names, if url answers with one."""
    request = urllib.request.Request(url, method="GET")  # noqa: S310 (loopback http)

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_: Any, **__: Any) -> None:
            return None

    try:
        urllib.request.build_opener(Keep).open(request, timeout=2)
    except urllib.error.HTTPError as error:
        return error.headers.get("Location")
    return None


class Poller:
    """GETs a URL through the load balancer every 50 ms in a thread, recording each status."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), http_status(self.url, timeout=1.0)))
            self._stop.wait(0.05)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def longest_failure_s(self) -> float:
        """The longest stretch of answers that were not 2xx/3xx (5xx or none), in seconds."""
        return longest_bad_stretch(self.samples)


def longest_bad_stretch(samples: Sequence[tuple[float, int]]) -> float:
    longest, started = 0.0, None
    for at, status in samples:
        bad = not 200 <= status < 400
        if bad and started is None:
            started = at
        elif not bad and started is not None:
            longest, started = max(longest, at - started), None
    if started is not None and samples:
        longest = max(longest, samples[-1][0] - started)
    return round(longest, 2)


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
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    raise CheckFailed(f"Timed out after {timeout_s:.0f} s waiting for {what}.")


def session_figures(results: Sequence[sessions.SessionResult]) -> Figures:
    return sessions.summarize(results)


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
    with sessions.open_sessions(setup.url + "/", 9) as pool:
        victim = busiest_replica([only(result.replicas) for result in pool.opened])
        container = replica_container(setup, lb, victim)
        with Poller(setup.url + "/readyz") as poller:
            crashed_at = time.monotonic()
            crash(setup.docker, container)
            dropped = dropped_within(setup.docker, lb, victim, timeout_s=10)
            later = pool.analyse_all(round_=1)
            fresh = sessions.run_sessions(setup.url + "/", 3)
            wait_until(
                lambda: len(servers_up(setup.docker, lb)) == REPLICAS, 120, "3 replicas up again"
            )
            recovered = round(time.monotonic() - crashed_at, 2)
    on_victim = {result.index for result in pool.opened if only(result.replicas) == victim}
    others = [result for result in later if result.index not in on_victim]
    moved = [result for result in later if result.index in on_victim]
    survivors, new = session_figures(others), session_figures(fresh)
    check_sessions(outcome, survivors, survivors["total"])
    check_sessions(outcome, new, 3)
    outage = poller.longest_failure_s()
    outcome.require(outage <= CHECK_INTERVAL_S, f"the LB answered 5xx for {outage} s")
    outcome.figures = {
        "crashed": victim,
        "dropped_s": dropped,
        "recovered_s": recovered,
        "longest_5xx_s": outage,
        "other_sessions": survivors,
        "new_sessions": new,
        "sessions_of_crashed_replica": session_figures(moved),
    }
    return outcome


def dropped_within(docker: Docker, lb: str, server: str, timeout_s: float) -> float | None:
    """Seconds until HAProxy took the server out, or None when it never did: a replica that
    restarts and is ready again within two check intervals is never marked down."""
    try:
        return wait_until(lambda: server not in servers_up(docker, lb), timeout_s, "")
    except CheckFailed:
        return None


def only(replicas: Sequence[str]) -> str | None:
    """The replica that served a session, when exactly one did."""
    return replicas[0] if len(replicas) == 1 else None


def crash(docker: Docker, container: str) -> None:
    """Kill the container's process with SIGKILL from the host, as a crash would: the restart
    policy then applies (`docker kill` counts as a deliberate stop, which it leaves alone)."""
    pid = int(docker.run("inspect", "--format", "{{.State.Pid}}", container, check=True).stdout)
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError) as error:
        raise CheckFailed(
            f"Cannot kill {container}'s process {pid} from here ({error}): `nox -s scale` needs "
            "the engine on this host and root."
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
    """The same compose file as a swarm stack; then a rolling update to a new image tag while
    new sessions keep arriving."""
    outcome = Outcome("swarm stack + rolling update")
    port = free_port()
    stack_yaml = stack_file(COMPOSE_FILE, BUILD / "scale" / "stack.yaml")
    stack = Stack(docker, NAME, stack_yaml, settings(port))
    setup = Setup(docker, Project(docker, NAME, settings(port)), port)
    console.step(f"swarm stack {NAME}: {REPLICAS} replicas behind HAProxy on :{port}")
    with Swarm(docker):
        stack.deploy()
        try:
            stack.wait_converged("app")
            stack.wait_converged("lb")
            wait_until(lambda: http_status(setup.url + "/readyz") == 200, 120, "the stack's LB")
            summary = session_figures(sessions.run_sessions(setup.url + "/", SESSIONS))
            check_sessions(outcome, summary, SESSIONS)
            rolling = rolling_update(stack, setup)
        finally:
            stack.remove()
    check_sessions(outcome, rolling["sessions"], rolling["sessions"]["total"])
    outcome.require(rolling["waves"] >= 2, "the update ended before a second wave of sessions")
    outcome.figures = {**summary, "nodes": "1 (this machine)", "rolling_update": rolling}
    return outcome


def rolling_update(stack: Stack, setup: Setup) -> Figures:
    """`docker service update --image` (parallelism 1, start-first) with waves of 3 new
    sessions running until it has converged."""
    results: list[sessions.SessionResult] = []
    done = threading.Event()
    waves = 0

    def update() -> None:
        try:
            stack.update_image("app", TAGS[1])
        finally:
            done.set()

    started = time.monotonic()
    updater = threading.Thread(target=update, daemon=True)
    updater.start()
    while not done.is_set():
        results += sessions.run_sessions(setup.url + "/", 3)
        waves += 1
    updater.join()
    return {
        "seconds": round(time.monotonic() - started, 1),
        "waves": waves,
        "sessions": session_figures(results),
    }


SCENARIOS: tuple[Callable[[Setup], Outcome], ...] = (affinity, control, kill_replica, prefix)


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
    dockerfile = f"FROM {TAGS[0]}\nLABEL io.ner-app.rollout=b\n"
    docker.run("build", "--quiet", "--tag", TAGS[1], "-", input_text=dockerfile, check=True)
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
        f"Measured by `nox -s scale` at {commit}: {REPLICAS} replicas of the built image behind "
        "HAProxy (deploy/compose.yaml), real Chromium sessions, one run.\n",
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


def brief(figures: Figures) -> str:
    """The scenario's own figures, in a few words."""
    parts = []
    if "memory_mb" in figures:
        parts.append(
            "memory " + ", ".join(f"{v:.0f}" for v in figures["memory_mb"].values()) + " MB"
        )
    if figures.get("errors"):
        parts.append("errors: " + "; ".join(f"{k} x{v}" for k, v in figures["errors"].items()))
    for key, label in (("dropped_s", "dropped by the LB in"), ("recovered_s", "back in"),
                       ("longest_5xx_s", "longest 5xx")):  # fmt: skip
        if key in figures:
            parts.append(f"{label} {figures[key]} s")
    if "rolling_update" in figures:
        rolling = figures["rolling_update"]
        new = rolling["sessions"]
        parts.append(
            f"rolling update {rolling['seconds']} s, new sessions {new['ok']}/{new['total']} ok"
        )
    return "; ".join(parts) or "-"


def write(outcomes: Sequence[Outcome], commit: str) -> None:
    data = {"commit": commit, "replicas": REPLICAS, "scenarios": [vars(o) for o in outcomes]}
    RESULTS_JSON.write_text(json.dumps(data, indent=2) + "\n")
    table = markdown(outcomes, commit)
    RESULTS_MD.write_text("# Scale-out results\n\n" + table)
    update_readme(README, table, markers=MARKERS)


def attempt(name: str, scenario: Callable[[], Outcome]) -> Outcome:
    """Run a scenario and say how it went; one that cannot finish fails with the reason."""
    console.step(f"scenario: {name}")
    try:
        outcome = scenario()
    except CheckFailed as error:
        outcome = Outcome(name, passed=False, problems=[str(error)])
    verdict = "as required" if outcome.passed else f"FAILED: {'; '.join(outcome.problems)}"
    console.step(f"{outcome.name}: {verdict}\n{json.dumps(outcome.figures, indent=1)}")
    return outcome


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    docker = engine(args.engine_env, env)
    built = BuildResult.load(args.result)
    prepare_images(docker, Docker.from_env(env), built, args.base_image)
    outcomes: list[Outcome] = []
    try:
        with deployed(docker) as setup:
            for scenario in SCENARIOS:
                outcomes.append(attempt(scenario.__name__, functools.partial(scenario, setup)))
        outcomes.append(attempt("swarm", lambda: swarm(docker)))
    finally:
        docker.run("image", "rm", TAGS[1])
        docker.run("image", "rm", TAGS[0])
    write(outcomes, git.revision(ROOT)[:7])
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
