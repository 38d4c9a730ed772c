"""Concurrent real browser sessions against the app, as users behind a load balancer would be.

One Chromium, one browser context per session, all driven at once through Playwright's async
API. Each session types a text, then uploads a .txt file (samples.py), and records the entities
it saw, the replicas that served it (the load balancer's `X-Ner-Replica` response header) and
its affinity cookie. A failing session records what its user saw instead of raising. The page's
steps are the page object's (page.py); what the sessions came to is results.py's.

`run_sessions` runs one round and closes; `open_sessions` keeps a `SessionPool` open between
phases (for killing a replica while users are connected), driven from synchronous code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Awaitable, Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from playwright.async_api import Browser, BrowserContext, Page, Request, Response
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

# `NAME as NAME` (and launch): callers import these from here too, deploy/scenarios.py and
# tests/integration/test_sessions.py.
from ner_build.browser.chromium import launch_async as launch
from ner_build.browser.chromium import private_folder
from ner_build.browser.evidence import BrowserLog
from ner_build.browser.page import AsyncAppPage, Entities, Seen
from ner_build.browser.results import SessionResult
from ner_build.browser.samples import Expect, finds_all, samples_for

REPLICA_HEADER = "x-ner-replica"  # Playwright gives header names in lower case
COOKIE = "NER_REPLICA"
TIMEOUT_S = 30.0
# Pages loading at once. Every session is a fresh browser context with an empty cache, and a
# cold Streamlit page is about 60 requests and 2.6 MB of scripts: 12 of them at once kept
# Chromium and three replicas on 2 cores past 30 s (nox -s scale's affinity scenario, seen in
# its build/failures/ evidence). Users do not all press Enter in the same instant either; once
# open, every session works at the same time.
OPENING = 3

T = TypeVar("T")


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


def playwright_message(error: Exception) -> str:
    """The first line of a Playwright error (the rest is its call log)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


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

    @property
    def app(self) -> AsyncAppPage:
        """The page object of the session's page."""
        return AsyncAppPage(self.page)

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
        await self.app.load(self.base_url, self.timeout_s * 1000)

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
        before = await self.app.seen()
        await self.app.enter_text(text)
        await self.app.remove_upload()
        return await self._entities(before)

    async def upload(self, text: str) -> Entities:
        """Upload text as a .txt file and return the entities highlighted for it."""
        self._upload_count += 1
        path = self.uploads / f"session-{self.index}-{self._upload_count}.txt"
        path.write_text(text, encoding="utf-8")
        return await self._step("the upload's entities", self._upload(path))

    async def _upload(self, path: Path) -> Entities:
        before = await self.app.seen()
        await self.app.upload(path)
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

    async def _entities(self, before: Seen) -> Entities:
        """Wait until the page shows something new once idle; its entities, or SessionFailed."""
        seen = await self.app.outcome(before)
        error = seen.error()
        if error:
            raise SessionFailed(error)
        return seen.entities()

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
            seen = await self.app.seen()
        except PlaywrightError:
            return None
        return seen.message()


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
