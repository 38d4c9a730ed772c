"""Fixtures for tests of the built image: the engine, the image, containers and a browser.

Nothing here skips: without an engine, an image or a browser the tests fail and say what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Ryuk (testcontainers' reaper) is an image from a registry; the fixtures remove containers.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
# Reach mapped ports on the engine's host, also when the tests run inside a container.
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

import docker
import pytest
from docker.errors import DockerException
from ner_build.browser import chromium, evidence
from ner_build.browser.page import AppPage
from ner_build.engine import offline_engine
from ner_build.engine.docker import START_ENGINE_HINT, Docker
from ner_build.engine.offline_engine import OfflineEngine
from ner_build.errors import CheckFailed
from ner_build.release import bundle
from ner_build.result import BuildResult, result_path
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import ExecWaitStrategy, HttpWaitStrategy

ROOT = Path(__file__).resolve().parents[2]
# The image under test: the last `nox -s build`'s, or NER_BUILD_RESULT's (nox -s arm64).
BUILD_RESULT = result_path()
PORT = 8501
STARTUP_TIMEOUT = 60
HARDENED: dict[str, Any] = {
    "user": "12345:0",
    "read_only": True,
    "tmpfs": {"/tmp": "rw,size=64m"},  # start_app applies it with with_tmpfs_mount
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        pytest.fail(f"No Docker engine answers ({error}). {START_ENGINE_HINT}", pytrace=False)
    return client


@pytest.fixture(scope="session")
def built() -> BuildResult:
    """What `nox -s build` recorded about the image it built last."""
    try:
        return BuildResult.load(BUILD_RESULT)
    except CheckFailed as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def image(docker_client: docker.DockerClient, built: BuildResult, neighbour: None) -> str:
    """The exact tag `nox -s build` gave the image (git short SHA), checked against its ID."""
    tag = str(built.tags[1])
    try:
        found = docker_client.images.get(tag).id
    except DockerException:
        pytest.fail(f"Image {tag} is not in the engine: run `nox -s build` first.", pytrace=False)
    assert found == built.ref, f"{tag} is {found}, not the image nox -s build made"
    return tag


NEIGHBOUR = f"ner-app-neighbour-{os.getpid()}"  # a container and a tag that are not the suite's


@pytest.fixture(scope="session")
def neighbour(docker_client: docker.DockerClient, built: BuildResult) -> Iterator[None]:
    """A user's work beside the suite, as `script/up` leaves it: the app running from the very
    image under test (by ID), and another tag on that image. The suite must leave both as they
    were: it never stops, removes or untags what it did not make."""
    repository, name = NEIGHBOUR, "same-id"  # (Podman's compat API: not as one "repo:tag")
    docker_client.images.get(built.ref).tag(repository, name)
    tag = f"{repository}:{name}"
    running = docker_client.containers.run(built.ref, detach=True, name=NEIGHBOUR, **HARDENED)
    yield
    problems = []
    try:
        running.reload()
        if running.status != "running":
            problems.append(f"the neighbour's container is {running.status}, not running")
    except DockerException as error:
        problems.append(f"the neighbour's container is gone ({error})")
    engine = Docker.from_env()
    if engine.image_id(tag) != built.ref:
        problems.append(f"the neighbour's tag {tag} no longer names {built.ref}")
    engine.run("rm", "--force", NEIGHBOUR)
    engine.untag(tag)
    assert not problems, "The suite disturbed work that is not its own: " + "; ".join(problems)


StartApp = Callable[..., DockerContainer]


@pytest.fixture(scope="module")
def start_app(image: str, involved: Involved) -> Iterator[StartApp]:
    """Start containers of the image (or image_ref), waiting for readiness; all removed after."""
    started: list[DockerContainer] = []

    def start(
        *,
        image_ref: str | None = None,
        wait_path: str | None = "/readyz",
        env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> DockerContainer:
        container = DockerContainer(image_ref or image)
        for path, options in kwargs.pop("tmpfs", {}).items():
            container.with_tmpfs_mount(path, options)
        container.with_kwargs(**kwargs)
        for key, value in (env or {}).items():
            container.with_env(key, value)
        if kwargs.get("network_mode") == "none":
            container.waiting_for(
                ExecWaitStrategy(
                    ["python", "-m", "ner_app.healthcheck", wait_path or "/_stcore/health"]
                ).with_startup_timeout(STARTUP_TIMEOUT)
            )
        else:
            container.with_exposed_ports(PORT).waiting_for(
                HttpWaitStrategy(PORT, wait_path or "/_stcore/health")
                .for_status_code(200)
                .with_startup_timeout(STARTUP_TIMEOUT)
            )
        started.append(container)
        try:
            container.start()
        finally:  # also when the wait for readiness failed: its log tells why
            wrapped = container.get_wrapped_container()
            if wrapped is not None:
                involved.add(wrapped.id)
        return container

    yield start
    for container in started:
        if container.get_wrapped_container() is not None:
            involved.discard(container.get_wrapped_container().id)
        container.stop()  # removes it, also when start() failed while waiting


def url(container: DockerContainer, path: str = "") -> str:
    return f"http://{container.get_container_host_ip()}:{container.get_exposed_port(PORT)}{path}"


def http_get(address: str) -> tuple[int, str]:
    """Status and body of a GET, also for error statuses."""
    try:
        with urllib.request.urlopen(address, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def run_in(
    container: DockerContainer, *command: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Exit code and output of a command run inside the container (which has Python, but no
    shell or coreutils)."""
    result = container.get_wrapped_container().exec_run(list(command), environment=env)
    return int(result.exit_code), result.output.decode()


def python_in(container: DockerContainer, code: str) -> tuple[int, str]:
    """Exit code and output of Python code run inside the container."""
    return run_in(container, "python", "-c", code)


def read_in(container: DockerContainer, path: str) -> str:
    """A text file's content, read inside the container."""
    code, text = python_in(container, f"print(open({path!r}).read(), end='')")
    assert code == 0, text
    return text


def pytest_configure(config: pytest.Config) -> None:
    """This run's evidence folder starts empty (see ner_build.browser.evidence)."""
    shutil.rmtree(evidence.run_folder(), ignore_errors=True)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    """Each phase's report on the test (rep_setup, rep_call), for the evidence fixtures."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API, for one module: while it runs, its event loop occupies the main
    thread, and the session driver's asyncio.run (test_sessions) cannot start."""
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def chromium_browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium in a network namespace of its own (ner_build.browser.chromium), bridged to
    this host's loopback: containers starting here cannot abort its page loads."""
    try:
        chromium.chromium_path()
    except FileNotFoundError as error:
        pytest.fail(str(error), pytrace=False)
    with chromium.launch(playwright) as launched:
        yield launched


@pytest.fixture
def evidence_folder(request: pytest.FixtureRequest) -> Path:
    """Where this test's evidence goes, should it fail."""
    return evidence.folder_of(request.node.nodeid)


class Involved:
    """The containers the fixtures and tests started, whose logs and inspect a failure keeps:
    a module fixture's until it removes them, a test's (`add_for_test`) until the test ends."""

    def __init__(self) -> None:
        self.containers: dict[str, Docker] = {}
        self._for_test: set[str] = set()

    def add(self, container: str, docker: Docker | None = None) -> None:
        self.containers[container] = docker or Docker.from_env()

    def add_for_test(self, container: str, docker: Docker) -> None:
        self.add(container, docker)
        self._for_test.add(container)

    def discard(self, container: str) -> None:
        self.containers.pop(container, None)

    def end_test(self) -> None:
        for container in self._for_test:
            self.discard(container)
        self._for_test.clear()


@pytest.fixture(scope="session")
def involved() -> Involved:
    return Involved()


def failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test's setup or call failed (pytest_runtest_makereport keeps the reports)."""
    reports = (getattr(request.node, f"rep_{when}", None) for when in ("setup", "call"))
    return any(report is not None and report.failed for report in reports)


@pytest.fixture(autouse=True)
def keep_container_evidence(
    request: pytest.FixtureRequest, involved: Involved, evidence_folder: Path
) -> Iterator[None]:
    """On failure: the log and inspect of every container the test's fixtures started."""
    yield
    if failed(request):
        for container, docker in list(involved.containers.items()):
            evidence.keep_container(docker, container, evidence_folder / "containers")
    involved.end_test()


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(
    chromium_browser: Browser, request: pytest.FixtureRequest, evidence_folder: Path
) -> Iterator[OpenPage]:
    """open_page(address, **context_args): a page of the app at address, its text area shown,
    in a browser context of its own that Playwright traces. On failure each context keeps its
    trace, screenshots, pages, console and failed requests (evidence.keep_browser)."""
    opened: list[tuple[BrowserContext, evidence.BrowserLog]] = []

    def open_(address: str, **context_args: Any) -> Page:
        context = chromium_browser.new_context(**context_args)
        context.tracing.start(screenshots=True, snapshots=True, sources=True)
        log = evidence.BrowserLog()
        log.watch(context)
        opened.append((context, log))
        page = context.new_page()
        AppPage(page).load(address)
        return page

    yield open_
    keep = failed(request)
    for number, (context, log) in enumerate(opened, 1):
        if keep:
            evidence.keep_browser(context, log, evidence_folder / f"browser-{number}")
        else:
            context.tracing.stop()
        context.close()


@dataclass(frozen=True)
class Keys:
    """OpenSSH keys: the vendor's, and another one nobody should trust."""

    vendor: Path
    other: Path


def make_key(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@example.com", "-f", key],
        check=True,
    )
    return key


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("keys")
    return Keys(make_key(folder, "vendor"), make_key(folder, "intruder"))


@pytest.fixture(scope="module")
def engine() -> Iterator[OfflineEngine]:
    """A Docker engine of the module's own: empty, in a network namespace with no route out."""
    try:
        with offline_engine.offline_dockerd() as started:
            yield started
    except CheckFailed as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def good(
    built: BuildResult, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A bundle of the built image with its sources (`nox -s bundle -- --with-sources`),
    signed with the vendor's key, its .tar beside it; removed afterwards (800 MB). Or the one
    NER_TEST_BUNDLE names, which nox -s browser-loop makes once for all its rounds."""
    given = os.environ.get("NER_TEST_BUNDLE")
    if given:
        yield Path(given)
        return
    parent = tmp_path_factory.mktemp("bundle")
    argv = [f"--key={keys.vendor}", f"--output={parent / 'ner-app'}", "--with-sources", "--force"]
    try:
        folder = bundle.make(bundle.parse(argv, dict(os.environ)))
    except CheckFailed as error:
        pytest.fail(str(error), pytrace=False)
    yield folder
    shutil.rmtree(parent)
