"""The bench under load: the JSON API driven by wrk, 20 browser sessions opened and then
closed, and a soak of mixed API and page traffic.

Each runs one container of our image as the README recommends running it: hardened (read-only
root, a tmpfs /tmp, a non-root user, no capabilities, no new privileges) and held to the memory
limit of `deploy/compose.yaml`. A `Monitor` probes /readyz every second and reads the
container's memory (`docker stats`) as often as the engine answers, while the traffic runs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ner_build import console
from ner_build.bench import load
from ner_build.bench.stats import Budget, Results
from ner_build.browser import sessions
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed, ToolError
from ner_build.paths import ROOT
from ner_build.probe import failure, wait_until_answers

COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
CONNECTIONS = (1, 4, 16)
LOAD_SECONDS = 10
SESSIONS = 20
AFTER_CLOSE_S = 180  # Streamlit drops a disconnected session after 120 s (its default TTL)
SOAK_S = 300
SOAK_SESSIONS = 4  # browser sessions per round of the soak's page traffic
HEALTH_EVERY_S = 1.0
SAMPLE_PAUSE_S = 0.5  # between `docker stats` readings, each of which takes about a second
# 20 pages opening at once take ~60 s here: Chromium renders them on the same 2 cores.
SESSION_TIMEOUT_S = 120.0
HARDENED = (
    "--read-only", "--tmpfs=/tmp:rw,size=64m", "--user=10001:0", "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
)  # fmt: skip


def api_figure(what: str, connections: int) -> str:
    return f"API {what}, {connections} connection{'s' if connections > 1 else ''}"


API_ERRORS = "API errors under load (all connection counts)"
SESSIONS_BEFORE = f"memory before {SESSIONS} browser sessions"
SESSIONS_PEAK = f"memory at peak, {SESSIONS} sessions open"
SESSIONS_AFTER = f"memory {AFTER_CLOSE_S // 60} min after they closed"
SESSIONS_FAILED = f"browser sessions that failed, of {SESSIONS}"
SESSIONS_HEALTH = "/readyz failures during the sessions"
SOAK_GROWTH = f"soak ({SOAK_S // 60} min, API + pages): memory growth"
SOAK_LATE_GROWTH = "soak: memory growth in its second half"
SOAK_HEALTH = "soak: /readyz failures"
SOAK_API = "soak: API requests"
SOAK_API_ERRORS = "soak: API errors"
SOAK_PAGES_FAILED = "soak: browser sessions that failed"


def recommended_memory(compose_file: Path = COMPOSE_FILE) -> str:
    """The app service's memory limit in deploy/compose.yaml (the README's recommendation)."""
    try:
        compose = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
        limit = compose["services"]["app"]["deploy"]["resources"]["limits"]["memory"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise CheckFailed(
            f"Cannot read the app's memory limit from {compose_file} ({error}): the bench runs "
            "the container under it. Restore services.app.deploy.resources.limits.memory."
        ) from None
    return str(limit)


@dataclass
class Monitor:
    """Health probes and memory readings in background threads, from start() to stop().

    `check_health()` returns None or what went wrong; `read_memory()` returns MB."""

    check_health: Callable[[], str | None]
    read_memory: Callable[[], float]
    health_every_s: float = HEALTH_EVERY_S
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic s, MB)
    probes: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Monitor:
        for loop in (self._probe, self._sample):
            thread = threading.Thread(target=loop, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _probe(self) -> None:
        while not self._stop.wait(self.health_every_s):
            failure = self.check_health()
            self.probes += 1
            if failure is not None:
                self.failures.append(failure)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.read_memory()))
            self._stop.wait(SAMPLE_PAUSE_S)

    def mark(self) -> float:
        """A point in time, to read the memory since."""
        return time.monotonic()

    def peak_since(self, mark: float) -> float:
        """The highest memory read since mark (MB); reads it now if nothing was read yet."""
        readings = [mb for at, mb in self.samples if at >= mark]
        return max(readings) if readings else self.read_memory()


def growth(samples: Sequence[tuple[float, float]], since: float) -> float:
    """MB from the first reading at or after `since` to the last reading."""
    later = [mb for at, mb in samples if at >= since]
    if not later:
        raise ToolError("No memory was read in the time measured.")
    return later[-1] - later[0]


@dataclass(frozen=True)
class SessionsRun:
    before: float
    peak: float
    after: float
    failed: int
    health_failures: int


@dataclass(frozen=True)
class Soak:
    growth: float
    late_growth: float
    health_failures: int
    api: load.LoadResult
    pages: int
    page_errors: tuple[str, ...]


class Container:
    """One hardened container of image under the memory limit, its port published on the
    loopback; removed afterwards."""

    def __init__(self, docker: Docker, image: str, memory: str) -> None:
        self.docker, self.image, self.memory = docker, image, memory
        self.id = self.address = ""
        self._running = docker.published(image, options=[f"--memory={memory}", *HARDENED])

    def __enter__(self) -> Container:
        self.id, self.address = self._running.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._running.__exit__(*exc)

    def memory_mb(self) -> float:
        return self.docker.memory_mb(self.id)

    def monitor(self) -> Monitor:
        return Monitor(lambda: failure(self.address + "/readyz", 5), self.memory_mb)

    def check_alive(self) -> None:
        """ToolError when the engine killed the container (out of memory) or it restarted."""
        state: dict[str, Any] = json.loads(
            self.docker.run("inspect", "--format", "{{json .State}}", self.id, check=True).stdout
        )
        if state.get("OOMKilled") or not state.get("Running"):
            raise ToolError(
                f"The container stopped under --memory={self.memory} (state: {state}). Raise the "
                f"limit in {COMPOSE_FILE.relative_to(ROOT)} and the README, or find the growth."
            )


@contextmanager
def started(docker: Docker, image: str, memory: str, timeout_s: float = 60) -> Iterator[Container]:
    """A hardened container of image, ready (its /readyz answers 200)."""
    with Container(docker, image, memory) as container:
        if not wait_until_answers(container.address + "/readyz", timeout_s):
            raise ToolError(
                f"{container.address}/readyz did not answer 200 within {timeout_s:g} s under "
                f"--memory={memory}; see `docker logs {container.id[:12]}`."
            )
        yield container


def api_body(text: str) -> str:
    return json.dumps({"text": text})


def measure_api(docker: Docker, image: str, memory: str, text: str) -> list[load.LoadResult]:
    """wrk at each of CONNECTIONS, LOAD_SECONDS each, after a warm-up request."""
    with started(docker, image, memory) as container:
        url = container.address + "/api/v1/entities"
        load.run(url, api_body(text), 1, 1)
        results = [load.run(url, api_body(text), n, LOAD_SECONDS) for n in CONNECTIONS]
        container.check_alive()
    return results


def measure_sessions(docker: Docker, image: str, memory: str) -> SessionsRun:
    """Memory when ready, at the peak of SESSIONS open browser sessions (each analysed a text
    and an upload, twice), and AFTER_CLOSE_S after all of them closed."""
    with started(docker, image, memory) as container, container.monitor() as monitor:
        before = container.memory_mb()
        mark = monitor.mark()
        with sessions.open_sessions(
            container.address, SESSIONS, timeout_s=SESSION_TIMEOUT_S
        ) as pool:
            results = [*pool.opened, *pool.analyse_all(round_=1)]
        peak = monitor.peak_since(mark)
        console.step(f"bench: the sessions closed; reading the memory again in {AFTER_CLOSE_S} s")
        time.sleep(AFTER_CLOSE_S)  # the interval the issue measures over, not a wait for a state
        after = container.memory_mb()
        container.check_alive()
    failed = len({result.index for result in results if not result.ok})
    return SessionsRun(before, peak, after, failed, len(monitor.failures))


def page_traffic(address: str, until: float) -> tuple[int, list[str]]:
    """Rounds of SOAK_SESSIONS sessions (open, text, upload, close) until the time; how many
    sessions ran, and the errors of those that failed."""
    ran, errors = 0, []
    while time.monotonic() < until:
        results = sessions.run_sessions(address, SOAK_SESSIONS, timeout_s=SESSION_TIMEOUT_S)
        ran += len(results)
        errors += [result.error or "failed" for result in results if not result.ok]
    return ran, errors


def soak(docker: Docker, image: str, memory: str, text: str, seconds: int = SOAK_S) -> Soak:
    """wrk on one connection for `seconds` while rounds of browser sessions run."""
    with started(docker, image, memory) as container, container.monitor() as monitor:
        start = monitor.mark()
        api: list[load.LoadResult] = []
        wrk = threading.Thread(
            target=lambda: api.append(
                load.run(container.address + "/api/v1/entities", api_body(text), 1, seconds)
            )
        )
        wrk.start()
        pages, page_errors = page_traffic(container.address, start + seconds)
        wrk.join()
        container.check_alive()
    if not api:
        raise ToolError("wrk did not finish the soak's API traffic; see its message above.")
    return Soak(
        growth(monitor.samples, start),
        growth(monitor.samples, start + seconds / 2),
        len(monitor.failures),
        api[0],
        pages,
        tuple(page_errors),
    )


BUDGETS = [
    Budget(API_ERRORS, "no API errors under load", limit=0),
    Budget(SESSIONS_FAILED, f"all {SESSIONS} browser sessions see their entities", limit=0),
    Budget(SESSIONS_HEALTH, "ready throughout the sessions", limit=0),
    Budget(SOAK_HEALTH, "ready throughout the soak", limit=0),
    Budget(SOAK_API_ERRORS, "no API errors in the soak", limit=0),
    Budget(SOAK_PAGES_FAILED, "no browser session fails in the soak", limit=0),
]


def measure(docker: Docker, image: str, text: str, runs: int, results: Results) -> None:
    """Add the API, sessions and soak figures to results; the soak runs once, the rest runs
    times each."""
    memory = recommended_memory()
    api = []
    for index in range(runs):
        console.step(
            f"bench: the API under wrk at {CONNECTIONS} connections, {LOAD_SECONDS} s each "
            f"(--memory={memory}), run {index + 1} of {runs}"
        )
        api.append(measure_api(docker, image, memory, text))
    for index, connections in enumerate(CONNECTIONS):
        at = [run[index] for run in api]
        results.add(api_figure("throughput", connections), "req/s", [r.throughput for r in at])
        results.add(api_figure("p50 latency", connections), "ms", [r.p50_ms for r in at])
        results.add(api_figure("p99 latency", connections), "ms", [r.p99_ms for r in at])
    results.add(API_ERRORS, "errors", [sum(r.errors for r in run) for run in api])
    runs_of = []
    for index in range(runs):
        console.step(
            f"bench: {SESSIONS} browser sessions, then {AFTER_CLOSE_S} s after they closed, "
            f"run {index + 1} of {runs}"
        )
        runs_of.append(measure_sessions(docker, image, memory))
    for name, values in (
        (SESSIONS_BEFORE, [r.before for r in runs_of]),
        (SESSIONS_PEAK, [r.peak for r in runs_of]),
        (SESSIONS_AFTER, [r.after for r in runs_of]),
    ):
        results.add(name, "MB", values)
    results.add(SESSIONS_FAILED, "sessions", [r.failed for r in runs_of])
    results.add(SESSIONS_HEALTH, "probes", [r.health_failures for r in runs_of])
    console.step(f"bench: a {SOAK_S} s soak: wrk on one connection and rounds of browser sessions")
    run = soak(docker, image, memory, text)
    results.add(SOAK_GROWTH, "MB", [run.growth])
    results.add(SOAK_LATE_GROWTH, "MB", [run.late_growth])
    results.add(SOAK_HEALTH, "probes", [run.health_failures])
    results.add(SOAK_API, "requests", [run.api.requests])
    results.add(SOAK_API_ERRORS, "errors", [run.api.errors])
    results.add(SOAK_PAGES_FAILED, f"of {run.pages}", [len(run.page_errors)])
