"""The app's page as its users drive it: the one place that knows its selectors and its steps.

Load the page and wait for its text area; type a text and commit it with Ctrl+Enter; upload a
file; wait for the entities highlighted (displaCy's <mark> elements) and read them; read what
else the page shows (alerts, the uploader's error, a dialog). Playwright has a synchronous API,
which the bench and the integration tests use, and an asynchronous one, which the concurrent
sessions use: `AppPage` and `AsyncAppPage` take the same steps with the same selectors, one in
each. Every wait has the caller's timeout in ms; None is the browser context's default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright import async_api, sync_api

TEXT_AREA = "Text"  # the text area's label
COMMIT = "Control+Enter"  # commits the text area's text: the app analyses it
MARK = "mark"  # one highlighted entity; its inner text is "entity text LABEL"
FILE_INPUT = "input[type=file]"  # the uploader's input (the batch uploader's, in batch mode)
REMOVE_UPLOAD = "stFileChipDeleteBtn"  # test id around the button that removes an upload
LOAD_TIMEOUT_MS = 30_000  # the page loaded: its text area shown

Entity = tuple[str, str]  # (text, label), as the page highlights it
Entities = tuple[Entity, ...]


def parse_marks(texts: Sequence[str]) -> Entities:
    """(text, label) of each highlighted entity; a mark's inner text is "entity text LABEL"."""
    entities = []
    for mark in texts:
        *words, label = mark.split()
        entities.append((" ".join(words), label))
    return tuple(entities)


def one_line(text: str) -> str:
    """Text with its lines joined: "Connection error: Streamlit server is not responding…"."""
    return ": ".join(line.strip() for line in text.splitlines() if line.strip())


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

    def as_js(self) -> dict[str, list[str]]:
        """As OUTCOME_JS builds it (same keys, same order), to compare there."""
        return {name: list(shown) for name, shown in vars(self).items()}

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

    def entities(self) -> Entities:
        """The entities the marks show."""
        return parse_marks(self.marks)


class AppPage:
    """The app's page, driven through Playwright's synchronous API."""

    def __init__(self, page: sync_api.Page) -> None:
        self.page = page

    def load(self, address: str, timeout_ms: float | None = LOAD_TIMEOUT_MS) -> None:
        """Go to address and wait until the text area shows."""
        self.page.goto(address)
        self.page.get_by_label(TEXT_AREA).wait_for(timeout=timeout_ms)

    def enter_text(self, text: str) -> None:
        """Type text into the text area and commit it (Ctrl+Enter)."""
        area = self.page.get_by_label(TEXT_AREA)
        area.fill(text)
        area.press(COMMIT)

    def upload(self, files: Path | Sequence[Path]) -> None:
        """Give the uploader files (one in single mode, any number in batch mode)."""
        self.page.locator(FILE_INPUT).set_input_files(files)

    def wait_for_entity(self, text: str | None = None, timeout_ms: float | None = None) -> None:
        """Wait until an entity is highlighted (one with text in it, when text is given)."""
        self.page.locator(MARK, has_text=text).first.wait_for(timeout=timeout_ms)

    def entities(self, timeout_ms: float | None = None) -> Entities:
        """The entities highlighted, once the first one shows."""
        self.wait_for_entity(timeout_ms=timeout_ms)
        return parse_marks(self.page.locator(MARK).all_inner_texts())


class AsyncAppPage:
    """The app's page, driven through Playwright's asynchronous API."""

    def __init__(self, page: async_api.Page) -> None:
        self.page = page

    async def load(self, address: str, timeout_ms: float | None = LOAD_TIMEOUT_MS) -> None:
        """Go to address and wait until the text area shows."""
        await self.page.goto(address)
        await self.page.get_by_label(TEXT_AREA).wait_for(timeout=timeout_ms)

    async def enter_text(self, text: str) -> None:
        """Type text into the text area and commit it (Ctrl+Enter)."""
        area = self.page.get_by_label(TEXT_AREA)
        await area.fill(text)
        await area.press(COMMIT)

    async def remove_upload(self) -> None:
        """Remove the file uploaded before, if there is one (an upload wins over the text)."""
        remove = self.page.get_by_test_id(REMOVE_UPLOAD).locator("button")
        if await remove.count():
            await remove.first.click()

    async def upload(self, path: Path) -> None:
        """Give the uploader a file."""
        await self.page.locator(FILE_INPUT).set_input_files(path)

    async def seen(self) -> Seen:
        """What the page shows now."""
        raw: dict[str, list[str]] = await self.page.evaluate(OUTCOME_JS, [None, False])
        return Seen.of(raw)

    async def outcome(self, before: Seen) -> Seen:
        """Wait until the page shows something new once idle (OUTCOME_JS, every 100 ms)."""
        raw = await self.page.wait_for_function(OUTCOME_JS, arg=[before.as_js(), True], polling=100)
        return Seen.of(await raw.json_value())
