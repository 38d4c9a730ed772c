"""Concurrent real browser sessions against the app, as users behind a load balancer would be.

One Chromium, one browser context per session, all driven at once through Playwright's async
API. Each session types a text, then uploads a .txt file, and records the entities it saw, the
replicas that served it (the load balancer's `X-Ner-Replica` response header) and its affinity
cookie. A failing session records what its user saw instead of raising.

`run_sessions` runs one round and closes; `open_sessions` keeps a `SessionPool` open between
phases (for killing a replica while users are connected), driven from synchronous code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    Response,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from ner_build.browser.chromium import ARGS, environment, isolated, private_folder
from ner_build.browser.evidence import BrowserLog

REPLICA_HEADER = "x-ner-replica"  # Playwright gives header names in lower case
COOKIE = "NER_REPLICA"
TIMEOUT_S = 30.0
# Pages loading at once. Every session is a fresh browser context with an empty cache, and a
# cold Streamlit page is about 60 requests and 2.6 MB of scripts: 12 of them at once kept
# Chromium and three replicas on 2 cores past 30 s (nox -s scale's affinity scenario, seen in
# its build/failures/ evidence). Users do not all press Enter in the same instant either; once
# open, every session works at the same time.
OPENING = 3

Entity = tuple[str, str]  # (text, label), as the page highlights it
Entities = tuple[Entity, ...]
T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    """A sentence and the entities both the test pipeline and en_core_web_sm find in it."""

    text: str
    entities: Entities


def _sample(text: str, *entities: Entity) -> Sample:
    return Sample(text, entities)


PER, GPE, DATE = "PERSON", "GPE", "DATE"
# Verified with the test pipeline and en_core_web_sm 3.8.0. No ORG: en_core_web_sm includes
# "the" in "the United Nations". Every sample has the same labels, because the page's "Show
# labels" choice outlives an analysis: after one without DATE, DATE stays hidden.
# Typed into the text area:
TEXTS = (
    _sample(
        "Ada Lovelace worked with Charles Babbage in London in 1843.",
        ("Ada Lovelace", PER), ("Charles Babbage", PER), ("London", GPE), ("1843", DATE),
    ),
    _sample("Marie Curie lectured in Paris on Monday.",
            ("Marie Curie", PER), ("Paris", GPE), ("Monday", DATE)),
    _sample("Alan Turing gave a talk in Berlin on Monday.",
            ("Alan Turing", PER), ("Berlin", GPE), ("Monday", DATE)),
    _sample("Grace Hopper spoke in New York on Monday.",
            ("Grace Hopper", PER), ("New York", GPE), ("Monday", DATE)),
    _sample("Charles Babbage met Alan Turing in Boston on Monday.",
            ("Charles Babbage", PER), ("Alan Turing", PER), ("Boston", GPE), ("Monday", DATE)),
    _sample("Marie Curie travelled from Paris to Berlin in June.",
            ("Marie Curie", PER), ("Paris", GPE), ("Berlin", GPE), ("June", DATE)),
)  # fmt: skip
# Uploaded as a .txt file; every sample's entities differ from every other's.
UPLOADS = (
    _sample("Grace Hopper visited Boston in June.",
            ("Grace Hopper", PER), ("Boston", GPE), ("June", DATE)),
    _sample("Charles Babbage sailed from London to New York in 1843.",
            ("Charles Babbage", PER), ("London", GPE), ("New York", GPE), ("1843", DATE)),
    _sample("Marie Curie wrote to Ada Lovelace from Boston in June.",
            ("Marie Curie", PER), ("Ada Lovelace", PER), ("Boston", GPE), ("June", DATE)),
    _sample("Alan Turing worked in London in June.",
            ("Alan Turing", PER), ("London", GPE), ("June", DATE)),
    _sample("Ada Lovelace visited Paris in June.",
            ("Ada Lovelace", PER), ("Paris", GPE), ("June", DATE)),
    _sample("Marie Curie met Grace Hopper in London on Monday.",
            ("Marie Curie", PER), ("Grace Hopper", PER), ("London", GPE), ("Monday", DATE)),
)  # fmt: skip


@dataclass
class _Evidence:
    folder: Path | None = None


_evidence = _Evidence()  # where failing sessions keep what they saw, while evidence_into runs


@contextmanager
def evidence_into(folder: Path) -> Iterator[None]:
    """Every session that fails meanwhile keeps its evidence in folder (Session.keep_evidence)."""
    _evidence.folder = folder
    try:
        yield
    finally:
        _evidence.folder = None


def samples_for(index: int, round_: int = 0) -> tuple[Sample, Sample]:
    """The (text, upload) samples of a session in a round: each session and round its own."""
    return TEXTS[(index + round_) % len(TEXTS)], UPLOADS[(index + round_) % len(UPLOADS)]


Expect = Callable[[Sample, Entities], str | None]


def finds_all(sample: Sample, found: Entities) -> str | None:
    """None when every expected entity was found (a trained pipeline may find more)."""
    missing = [entity for entity in sample.entities if entity not in found]
    return f"{sample.text!r}: missing {missing}, found {list(found)}" if missing else None


def finds_exactly(sample: Sample, found: Entities) -> str | None:
    """None when the entities found are exactly the expected ones, in order."""
    if found == sample.entities:
        return None
    return f"{sample.text!r}: expected {list(sample.entities)}, found {list(found)}"


@dataclass(frozen=True)
class SessionResult:
    """What one session did and saw; `error` says what its user saw when it failed."""

    index: int
    ok: bool
    text_entities: Entities
    upload_entities: Entities
    replicas: tuple[str, ...]  # every replica that answered the page's HTTP requests so far
    cookie: str | None
    error: str | None
    seconds: float


def parse_marks(texts: Sequence[str]) -> Entities:
    """(text, label) of each highlighted entity; a mark's inner text is "entity text LABEL"."""
    entities = []
    for mark in texts:
        *words, label = mark.split()
        entities.append((" ".join(words), label))
    return tuple(entities)


@dataclass(frozen=True)
class Seen:
    """What the page shows that tells an outcome: marks, alerts, the uploader's error, dialogs."""

    marks: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    uploader: tuple[str, ...] = ()
    dialogs: tuple[str, ...] = ()

    @classmethod
    def of(cls, raw: dict[str, list[str]]) -> Seen:
        return cls(
            *(tuple(raw.get(name, ())) for name in ("marks", "alerts", "uploader", "dialogs"))
        )

    def message(self) -> str | None:
        """A dialog (connection lost), the uploader's error, or else the app's alerts."""
        for shown in (self.dialogs, self.uploader):
            if shown:
                return one_line(" / ".join(shown))
        return "the app said: " + one_line(" / ".join(self.alerts)) if self.alerts else None

    def error(self) -> str | None:
        """What the user was told instead of entities; None when entities show."""
        if self.dialogs or self.uploader or not self.marks:
            return self.message() or "no entities and no message shown"
        return None


def one_line(text: str) -> str:
    """Text with its lines joined: "Connection error: Streamlit server is not responding…"."""
    return ": ".join(line.strip() for line in text.splitlines() if line.strip())


def playwright_message(error: Exception) -> str:
    """The first line of a Playwright error (the rest is its call log)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# What the page shows (see Seen), or null until it settles on something new: no script runs,
# nothing is stale, and entities or a message show (at a run's end, for a moment, neither has
# rendered yet). The uploader's error and a dialog (connection lost) need no script run.
OUTCOME_JS = """
([before, settled]) => {
  const texts = (selector) => [...document.querySelectorAll(selector)]
    .map((element) => element.innerText.trim()).filter(Boolean);
  const seen = {
    marks: texts("mark"),
    alerts: texts("[data-testid=stAlertContentError], [data-testid=stAlertContentInfo]"),
    uploader: texts("[data-testid=stFileUploader] [role=alert]"),
    dialogs: texts("[data-testid=stDialog]"),
  };
  if (!settled) return seen;
  if (JSON.stringify(seen) === JSON.stringify(before)) return null;
  if (seen.uploader.length || seen.dialogs.length) return seen;
  const app = document.querySelector("[data-test-script-state]");
  const idle = app?.dataset.testScriptState === "notRunning"
    && !document.querySelector("[data-stale=true]");
  return idle && (seen.marks.length || seen.alerts.length) ? seen : null;
}
"""


class SessionFailed(Exception):
    """A step did not show entities; the message says what the user saw instead."""


class Session:
    """One user: a browser context with one page of the app."""

    def __init__(
        self,
        browser: Browser,
        base_url: str,
        index: int,
        *,
        uploads: Path,
        timeout_s: float = TIMEOUT_S,
        cookie_name: str = COOKIE,
        opening: asyncio.Semaphore | None = None,
    ) -> None:
        self.browser, self.base_url, self.index = browser, base_url, index
        self.uploads, self.timeout_s, self.cookie_name = uploads, timeout_s, cookie_name
        self._opening = opening or asyncio.Semaphore(1)  # page loads at once, shared
        self.replicas: set[str] = set()
        self.failure: str | None = None  # set when open() failed
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._upload_count = 0
        self.failed_requests: list[str] = []  # "ERROR URL" of requests the browser gave up
        self.log = BrowserLog()  # console, failed requests and WebSockets, for the evidence
        self._kept = 0  # evidence folders written so far

    @property
    def page(self) -> Page:
        if self._page is None:
            raise SessionFailed("the session is not open")
        return self._page

    async def open(self) -> None:
        """Load the page and wait for its text area; SessionFailed says what was seen."""
        self._context = await self.browser.new_context()
        self._context.set_default_timeout(self.timeout_s * 1000)
        self.log.watch(self._context)
        self._page = await self._context.new_page()
        self._page.on("response", self._note_replica)
        self._page.on("requestfailed", self._note_failure)
        async with self._opening:
            await self._step("the page's Text area", self._load())

    async def _load(self) -> None:
        await self.page.goto(self.base_url)
        await self.page.get_by_label("Text").wait_for()

    def _note_replica(self, response: Response) -> None:
        replica = response.headers.get(REPLICA_HEADER)
        if replica:
            self.replicas.add(replica)

    def _note_failure(self, request: Request) -> None:
        self.failed_requests.append(f"{request.failure} {request.url}")

    async def cookie(self) -> str | None:
        """The affinity cookie's value, if the load balancer set one."""
        if self._context is None:
            return None
        cookies = await self._context.cookies(self.base_url)
        return next((c.get("value") for c in cookies if c.get("name") == self.cookie_name), None)

    async def analyse_text(self, text: str) -> Entities:
        """Type text, commit it (Ctrl+Enter) and return the entities highlighted.

        An upload wins over the text area, so a file uploaded before is removed. The result
        must differ from what the page showed before (a new sentence), or this times out."""
        return await self._step("the text's entities", self._analyse_text(text))

    async def _analyse_text(self, text: str) -> Entities:
        before = await self._seen()
        area = self.page.get_by_label("Text")
        await area.fill(text)
        await area.press("Control+Enter")
        remove = self.page.get_by_test_id("stFileChipDeleteBtn").locator("button")
        if await remove.count():
            await remove.first.click()
        return await self._entities(before)

    async def upload(self, text: str) -> Entities:
        """Upload text as a .txt file and return the entities highlighted for it."""
        self._upload_count += 1
        path = self.uploads / f"session-{self.index}-{self._upload_count}.txt"
        path.write_text(text, encoding="utf-8")
        return await self._step("the upload's entities", self._upload(path))

    async def _upload(self, path: Path) -> Entities:
        before = await self._seen()
        await self.page.locator("input[type=file]").set_input_files(path)
        return await self._entities(before)

    async def keep_evidence(self, folder: Path) -> None:
        """What the user saw and the browser logged, in folder/session-INDEX[-N]: a screenshot,
        the page's HTML, the console, the failed requests and the WebSockets."""
        self._kept += 1
        suffix = f"-{self._kept}" if self._kept > 1 else ""
        target = folder / f"session-{self.index}{suffix}"
        self.log.write(target)
        if self._page is None:
            return
        with suppress(PlaywrightError):
            await self._page.screenshot(path=target / "screenshot.png", full_page=True)
            (target / "page.html").write_text(
                f"<!-- {self._page.url} -->\n" + await self._page.content()
            )

    async def close(self) -> None:
        if self._context is not None:
            await self._context.close()
            self._context = self._page = None

    async def _seen(self) -> Seen:
        """What the page shows now."""
        raw: dict[str, list[str]] = await self.page.evaluate(OUTCOME_JS, [None, False])
        return Seen.of(raw)

    async def _entities(self, before: Seen) -> Entities:
        """Wait until the page shows something new once idle; its entities, or SessionFailed."""
        raw = await self.page.wait_for_function(OUTCOME_JS, arg=[_as_js(before), True], polling=100)
        seen = Seen.of(await raw.json_value())
        error = seen.error()
        if error:
            raise SessionFailed(error)
        return parse_marks(seen.marks)

    async def _step(self, waiting_for: str, action: Awaitable[T]) -> T:
        """Run a step; turn a timeout or a page error into SessionFailed with what was seen."""
        try:
            return await action
        except PlaywrightTimeoutError:
            shown = await self._shown()
            raise SessionFailed(
                f"timed out after {self.timeout_s:g} s waiting for {waiting_for}"
                + (f"; the page showed: {shown}" if shown else "")
            ) from None
        except PlaywrightError as error:
            raise SessionFailed(playwright_message(error)) from None

    async def _shown(self) -> str | None:
        """What the user sees that explains a wait that timed out (None if nothing does)."""
        try:
            seen = await self._seen()
        except PlaywrightError:
            return None
        return seen.message()


def _as_js(seen: Seen) -> dict[str, list[str]]:
    """Seen as OUTCOME_JS builds it (same keys, same order), to compare there."""
    return {name: list(shown) for name, shown in vars(seen).items()}


def summarize(results: Sequence[SessionResult]) -> dict[str, Any]:
    """Counts: total, ok, failed, sessions per replica (or "spread" over several, or "none"),
    and each distinct error with how many sessions had it."""
    replicas: Counter[str] = Counter()
    for result in results:
        if len(result.replicas) == 1:
            replicas[result.replicas[0]] += 1
        else:
            replicas["spread" if result.replicas else "none"] += 1
    ok = sum(result.ok for result in results)
    errors = Counter(result.error for result in results if result.error)
    return {
        "total": len(results),
        "ok": ok,
        "failed": len(results) - ok,
        "replicas": dict(sorted(replicas.items())),
        "errors": dict(errors.most_common()),
    }


@asynccontextmanager
async def launch() -> AsyncIterator[Browser]:
    """Chromium as browser.launch starts it (in a network namespace of its own, with a short
    private HOME and TMPDIR), async."""
    with private_folder() as folder, isolated(folder) as executable:
        env = environment(folder)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=executable, args=ARGS, env=env
            )
            try:
                yield browser
            finally:
                await browser.close()


async def exercise(session: Session, round_: int = 0, expect: Expect = finds_all) -> SessionResult:
    """Analyse a text, then an upload, in an open session; never raises."""
    started = time.monotonic()
    found, error = await _steps(session, round_, expect)
    if error and session.failed_requests:
        error += f" (the browser gave up on: {'; '.join(session.failed_requests[-2:])})"
    return await _result(session, found, error, time.monotonic() - started)


async def _steps(
    session: Session, round_: int, expect: Expect
) -> tuple[list[Entities], str | None]:
    """The text, then the upload: the entities found, and what went wrong if anything did."""
    text_sample, upload_sample = samples_for(session.index, round_)
    found: list[Entities] = []
    if session.failure is not None:
        return found, session.failure
    try:
        for sample, analyse in (
            (text_sample, session.analyse_text),
            (upload_sample, session.upload),
        ):
            found.append(await analyse(sample.text))
            error = expect(sample, found[-1])
            if error:
                return found, error
    except SessionFailed as failed:
        return found, str(failed)
    except Exception as unexpected:  # one session's surprise must not end the others
        return found, f"{type(unexpected).__name__}: {playwright_message(unexpected)}"
    return found, None


async def _result(
    session: Session, found: list[Entities], error: str | None, seconds: float
) -> SessionResult:
    if error is not None and _evidence.folder is not None:
        await session.keep_evidence(_evidence.folder)
    try:
        cookie = await session.cookie()
    except PlaywrightError:
        cookie = None
    text, upload = (*found, (), ())[:2]
    return SessionResult(
        index=session.index,
        ok=error is None,
        text_entities=text,
        upload_entities=upload,
        replicas=tuple(sorted(session.replicas)),
        cookie=cookie,
        error=error,
        seconds=round(seconds, 3),
    )


async def open_session(session: Session) -> SessionResult:
    """Open a session; its result carries the replicas and cookie, or what failed."""
    started = time.monotonic()
    try:
        await session.open()
    except SessionFailed as failed:
        session.failure = str(failed)
    except Exception as unexpected:  # as in exercise: report, do not end the others
        session.failure = f"{type(unexpected).__name__}: {playwright_message(unexpected)}"
    return await _result(session, [], session.failure, time.monotonic() - started)


async def _open_and_exercise(session: Session, expect: Expect) -> SessionResult:
    started = time.monotonic()
    opened = await open_session(session)
    if not opened.ok:
        return opened
    result = await exercise(session, 0, expect)
    return dataclasses.replace(result, seconds=round(time.monotonic() - started, 3))


async def _run(
    base_url: str, count: int, timeout_s: float, cookie_name: str, expect: Expect
) -> list[SessionResult]:
    async with AsyncExitStack() as stack:
        sessions = await _start(stack, base_url, count, timeout_s, cookie_name)
        return list(await asyncio.gather(*(_open_and_exercise(s, expect) for s in sessions)))


async def _start(
    stack: AsyncExitStack, base_url: str, count: int, timeout_s: float, cookie_name: str
) -> list[Session]:
    """Launch Chromium and make count sessions (not yet open); all closed with the stack."""
    browser = await stack.enter_async_context(launch())
    uploads = stack.enter_context(private_folder())
    opening = asyncio.Semaphore(OPENING)
    sessions = [
        Session(
            browser, base_url, i, uploads=uploads, timeout_s=timeout_s, cookie_name=cookie_name,
            opening=opening,
        )
        for i in range(count)
    ]  # fmt: skip
    for session in sessions:
        stack.push_async_callback(session.close)
    return sessions


def run_sessions(
    base_url: str,
    count: int,
    *,
    timeout_s: float = TIMEOUT_S,
    cookie_name: str = COOKIE,
    expect: Expect = finds_all,
) -> list[SessionResult]:
    """Run count concurrent sessions (open, text, upload) against base_url; one result each."""
    return asyncio.run(_run(base_url, count, timeout_s, cookie_name, expect))


class _LoopThread:
    """An asyncio loop in a daemon thread, so synchronous code can await on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ner-sessions")
        self.thread.daemon = True
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class SessionPool:
    """Open sessions, driven in phases from synchronous code; close() ends them all."""

    def __init__(
        self, runner: _LoopThread, stack: AsyncExitStack, sessions: list[Session], timeout_s: float
    ) -> None:
        self._runner, self._stack, self.sessions = runner, stack, sessions
        self._deadline_s = 4 * timeout_s + 60  # a phase's waits all have timeouts; this is a bound
        self.opened: list[SessionResult] = []

    def analyse_all(self, round_: int = 1, expect: Expect = finds_all) -> list[SessionResult]:
        """Every session analyses a new text and upload (round_ picks other samples)."""
        phase = _exercise_all(self.sessions, round_, expect)
        return self._runner.run(phase, self._deadline_s)

    def close(self) -> None:
        try:
            self._runner.run(self._stack.aclose(), self._deadline_s)
        finally:
            self._runner.stop()

    def __enter__(self) -> SessionPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _exercise_all(
    sessions: list[Session], round_: int, expect: Expect
) -> list[SessionResult]:
    return list(await asyncio.gather(*(exercise(s, round_, expect) for s in sessions)))


def open_sessions(
    base_url: str, count: int, *, timeout_s: float = TIMEOUT_S, cookie_name: str = COOKIE
) -> SessionPool:
    """Open count sessions concurrently and keep them open; pool.opened says who serves each."""
    runner = _LoopThread()
    stack = AsyncExitStack()
    try:
        sessions = runner.run(_start(stack, base_url, count, timeout_s, cookie_name), 60)
        pool = SessionPool(runner, stack, sessions, timeout_s)
        pool.opened = runner.run(_open_all(sessions), pool._deadline_s)
    except BaseException:
        runner.run(stack.aclose(), 60)
        runner.stop()
        raise
    return pool


async def _open_all(sessions: list[Session]) -> list[SessionResult]:
    return list(await asyncio.gather(*(open_session(s) for s in sessions)))
