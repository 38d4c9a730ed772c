"""The session driver's pure parts: Playwright's errors as one line, and the names its callers
import from it."""

from __future__ import annotations

from ner_build.browser import sessions


def test_playwright_errors_lose_their_call_log() -> None:
    error = Exception("Page.goto: net::ERR_CONNECTION_REFUSED at http://x/\nCall log:\n  - nav")
    assert sessions.playwright_message(error) == (
        "Page.goto: net::ERR_CONNECTION_REFUSED at http://x/"
    )
    assert sessions.playwright_message(Exception("")) == "Exception"
