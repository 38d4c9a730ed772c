"""The scale scenarios of `nox -s scale`, each a function of the deployed project that returns
its Outcome: affinity, its control, a replica killed, a path prefix, a rolling update, and the
same compose file as a swarm stack."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ner_build import console, process, wait
from ner_build.browser import sessions
from ner_build.browser.results import SessionResult, summarize
from ner_build.deploy.compose import COMPOSE_FILE, Project, Stack, Swarm, memory_mb, stack_file
from ner_build.deploy.haproxy import servers_state, servers_up
from ner_build.deploy.watch import Sampler, bad_stretch, first_change, http_status, location
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed, ToolError
from ner_build.paths import BUILD
from ner_build.probe import free_port

REPLICAS = 3
SESSIONS = 12
NAME = "ner-app-scale"  # the Compose project's and the stack's name: all this tool removes
TAGS = (f"{NAME}:a", f"{NAME}:b")  # the image under test, and the rolling update's new one
CHECK_INTERVAL_S = 2.0  # HAProxy's health-check interval (NER_LB_CHECK_INTERVAL)
LOGS = BUILD / "scale"  # the load balancer's logs and each run's results

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


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until condition() held; CheckFailed naming what did not happen in time."""
    return wait.seconds_until(condition, timeout_s, what, poll=0.1)


def session_figures(results: Sequence[SessionResult]) -> Figures:
    """results.summarize, and each failed session's replicas and error."""
    failures = [
        {"session": r.index, "replicas": list(r.replicas), "error": r.error}
        for r in results
        if not r.ok
    ]
    return {**summarize(results), **({"failures": failures} if failures else {})}


def check_sessions(outcome: Outcome, summary: Figures, expected: int) -> None:
    outcome.require(summary["total"] == expected, f"{summary['total']} of {expected} sessions ran")
    outcome.require(summary["failed"] == 0, f"{summary['failed']} sessions failed: {summary}")


# The scenarios -----------------------------------------------------------------------------------


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
    results: list[SessionResult] = []
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
