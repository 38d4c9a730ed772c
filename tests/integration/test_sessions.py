"""Concurrent real Chromium sessions against one hardened app container (no load balancer)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ner_build.browser import chromium, sessions
from ner_build.browser.chromium import private_folder
from ner_build.browser.results import SessionResult, summarize
from ner_build.browser.samples import finds_exactly, samples_for
from testcontainers.core.container import DockerContainer

from tests.integration.conftest import HARDENED, StartApp, url

TIMEOUT_S = 30


@pytest.fixture(scope="module")
def app(start_app: StartApp) -> DockerContainer:
    return start_app(**HARDENED)


def test_four_concurrent_sessions_see_their_text_and_upload_entities(
    app: DockerContainer,
) -> None:
    results = sessions.run_sessions(url(app, "/"), 4, timeout_s=TIMEOUT_S, expect=finds_exactly)
    assert [r.error for r in results] == [None] * 4
    for result in results:
        text, upload = samples_for(result.index)
        assert (result.text_entities, result.upload_entities) == (text.entities, upload.entities)
        assert (result.replicas, result.cookie) == ((), None)  # no load balancer, no header
    assert summarize(results)["replicas"] == {"none": 4}


def test_an_open_pool_analyses_again_in_a_later_phase(app: DockerContainer) -> None:
    with sessions.open_sessions(url(app, "/"), 2, timeout_s=TIMEOUT_S) as pool:
        assert [r.ok for r in pool.opened] == [True, True]
        later = pool.analyse_all(1, expect=finds_exactly)
    assert [r.error for r in later] == [None, None]
    assert [r.text_entities for r in later] == [samples_for(i, 1)[0].entities for i in (0, 1)]


async def upload_without_xsrf_cookie(address: str) -> SessionResult:
    """A session whose cookies are cleared once the page has loaded: with XSRF protection on,
    Streamlit refuses the upload (403); the text, sent over the websocket, still works."""
    async with chromium.launch_async() as browser:
        with private_folder() as uploads:
            session = sessions.Session(browser, address, 0, uploads=uploads, timeout_s=TIMEOUT_S)
            try:
                opened = await sessions.open_session(session)
                assert opened.ok, opened.error
                await session.page.context.clear_cookies()
                return await sessions.exercise(session, expect=finds_exactly)
            finally:
                await session.close()


def test_control_a_refused_upload_comes_back_failed_with_what_the_user_saw(
    app: DockerContainer,
) -> None:
    result = asyncio.run(upload_without_xsrf_cookie(url(app, "/")))
    assert not result.ok
    assert result.error == "Error: AxiosError: Request failed with status code 403"
    assert result.text_entities == samples_for(0)[0].entities
    assert result.upload_entities == ()


def test_a_failing_session_keeps_what_its_user_saw(app: DockerContainer, tmp_path: Path) -> None:
    """A page with no text area (the health check's "ok") fails the session, which keeps its
    screenshot, page, console, failed requests and WebSockets; a passing one keeps none."""
    with sessions.evidence_into(tmp_path):
        failed = sessions.run_sessions(url(app, "/_stcore/health"), 1, timeout_s=5)
        passed = sessions.run_sessions(url(app, "/"), 1, timeout_s=TIMEOUT_S)
    assert [r.ok for r in failed + passed] == [False, True]
    kept = tmp_path / "session-0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session-0"]
    assert (kept / "screenshot.png").read_bytes().startswith(b"\x89PNG")
    assert "/_stcore/health" in (kept / "page.html").read_text().splitlines()[0]
    for name in ("console.txt", "failed-requests.txt", "websockets.txt"):
        assert (kept / name).is_file()
