"""The images running: the time from `docker run` to health, to ready and to the first
entities in Chromium, the time of a NER request through the page, and the memory at idle and
after NER requests. Each wait has a timeout; health and readiness are polled every 10 ms (the
wait is what is measured)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from playwright.sync_api import Browser, Playwright

from ner_build import console
from ner_build.bench.builds import Images
from ner_build.bench.measurements import time_to_ready, wait_for
from ner_build.bench.stats import Results
from ner_build.browser import chromium
from ner_build.browser.page import AppPage
from ner_build.engine.docker import Docker

REQUESTS = 20  # NER requests through the page before memory is read again
ENTITY_TIMEOUT_MS = 60_000  # a submitted text's first entity shown
HEALTH = "docker run → health"
READY = "docker run → ready (baseline: health)"
READY_RULER = "docker run → ready, entity-ruler test pipeline"
ENTITIES = "docker run → first entities in a browser"
WARM_UP = "first NER request after ready (submit → entities)"
LATER = "a later NER request (submit → entities)"
IDLE = "memory at idle (ready)"
BUSY = f"memory after {REQUESTS} NER requests"
OURS_READY, SEED_READY = "/readyz", "/_stcore/health"  # the seed recipe has no readiness

Texts = Sequence[tuple[str, str]]  # (text, its first entity)


def submit(app: AppPage, text: str, first_entity: str) -> float:
    """Seconds from submitting text in the page to its first entity shown."""
    started = time.monotonic()
    app.enter_text(text)
    app.wait_for_entity(first_entity, ENTITY_TIMEOUT_MS)
    return time.monotonic() - started


def show_entities(browser: Browser, address: str, texts: Texts) -> list[float]:
    """Open the page and submit each (text, first entity) in turn; seconds each took."""
    page = browser.new_page()
    app = AppPage(page)
    app.load(address)
    try:
        return [submit(app, text, first) for text, first in texts]
    finally:
        page.close()


@dataclass(frozen=True)
class Start:
    """Seconds from `docker run` to health, to ready (the baseline has no readiness: its
    health), to the first entities on screen; then the first and a later NER request."""

    health: float
    ready: float
    entities: float
    first_request: float
    later_request: float


def measure_start(
    docker: Docker, image: str, playwright: Playwright, texts: Texts, ready_path: str
) -> Start:
    """One start of image: `docker run`, then health, ready and two texts through the page.
    Chromium is started and idle before the clock starts: only the container starts while
    health and ready are timed (they fought for the cores, and the bench timed Chromium's
    start-up as ours)."""
    with chromium.launch(playwright) as browser:
        browser.new_page().close()  # the browser's first page made, as a user's is
        started = time.monotonic()
        with docker.published(image) as (_, address):
            return timed_start(browser, address, texts, ready_path, started)


def timed_start(
    browser: Browser, address: str, texts: Texts, ready_path: str, started: float
) -> Start:
    """Health, ready and the two texts' entities, timed from started (the `docker run`)."""
    wait_for(address + "/_stcore/health")
    health = time.monotonic() - started
    wait_for(address + ready_path)
    ready = time.monotonic() - started
    first, later = show_entities(browser, address, texts[:2])
    return Start(health, ready, time.monotonic() - started - later, first, later)


def starts(
    docker: Docker, image: str, name: str, playwright: Playwright, texts: Texts, runs: int,
    ready_path: str,
) -> list[Start]:  # fmt: skip
    """runs starts of image, each announced."""
    measured = []
    for index in range(runs):
        console.step(
            f"bench: start of {name}, run {index + 1} of {runs}: `docker run`, then waiting "
            f"for health, ready and two texts' entities in Chromium"
        )
        measured.append(measure_start(docker, image, playwright, texts, ready_path))
    return measured


def measure_starts(
    docker: Docker, images: Images, playwright: Playwright, texts: Texts, runs: int,
    results: Results,
) -> None:  # fmt: skip
    """The starts of both images, runs times each, and our image's with the ruler pipeline."""
    ours = starts(docker, images.ours.image_id, "our image", playwright, texts, runs, OURS_READY)
    seed = starts(docker, f"{images.seed}:latest", "the seed image", playwright, texts, runs,
                  SEED_READY)  # fmt: skip
    for name, field_name in ((HEALTH, "health"), (READY, "ready"), (ENTITIES, "entities"),
                             (WARM_UP, "first_request"), (LATER, "later_request")):  # fmt: skip
        results.add(name, "s", [getattr(o, field_name) for o in ours],
                    [getattr(s, field_name) for s in seed])  # fmt: skip
    if images.ruler is not None:
        results.add(READY_RULER, "s", ruler_starts(docker, images.ruler.image_id, runs))


def ruler_starts(docker: Docker, image: str, runs: int) -> list[float]:
    """Seconds from `docker run` to ready of the image with the ruler pipeline, runs times."""
    ready = []
    for index in range(runs):
        console.step(
            f"bench: start of the entity-ruler image, run {index + 1} of {runs}: `docker run`, "
            f"then waiting for ready"
        )
        ready.append(time_to_ready(docker, image))
    return ready


def measure_memory(
    docker: Docker,
    image: str,
    name: str,
    playwright: Playwright,
    texts: Texts,
    runs: int,
    ready_path: str = OURS_READY,
) -> tuple[list[float], list[float]]:
    """Memory once ready, and after REQUESTS NER requests, each in a page of its own."""
    idle, busy = [], []
    for index in range(runs):
        console.step(
            f"bench: memory of {name}, run {index + 1} of {runs}: waiting for ready, then "
            f"{REQUESTS} NER requests in Chromium"
        )
        with (
            chromium.launch(playwright) as browser,
            docker.published(image) as (running, address),
        ):
            wait_for(address + ready_path)
            idle.append(docker.memory_mb(running))
            for pair in texts[:REQUESTS]:
                show_entities(browser, address, [pair])
            busy.append(docker.memory_mb(running))
    return idle, busy
