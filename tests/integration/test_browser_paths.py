"""Chromium starts wherever the checkout (and so nox's TMPDIR) is: a UNIX socket path has at
most 107 bytes, and Chromium makes its SingletonSocket under TMPDIR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ner_build.browser import chromium
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Playwright

PAGE = "data:text/html,<title>deep</title><p>ok</p>"


@pytest.fixture
def deep_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR set to a folder whose path is over 200 characters, as under a deep checkout."""
    deep = tmp_path.joinpath(*(["d" * 50] * 4))
    deep.mkdir(parents=True)
    assert len(str(deep)) > 200
    monkeypatch.setenv("TMPDIR", str(deep))
    return deep


def test_chromium_starts_when_tmpdir_is_deep(deep_tmpdir: Path, playwright: Playwright) -> None:
    with chromium.launch(playwright) as browser:
        page = browser.new_page()
        page.goto(PAGE)
        assert page.title() == "deep"


def test_control_chromium_given_the_deep_tmpdir_dies(
    deep_tmpdir: Path, playwright: Playwright
) -> None:
    """Without a short TMPDIR of its own, the same launch fails: what the fix prevents."""
    env: dict[str, str | float | bool] = dict(os.environ)
    with pytest.raises(PlaywrightError, match="Socket path"):
        playwright.chromium.launch(
            executable_path=chromium.chromium_path(), args=chromium.ARGS, env=env
        )
