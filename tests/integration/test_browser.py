"""The app in the hardened container, driven through a real Chromium."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from ner_build.browser.page import AppPage
from playwright.sync_api import Page
from testcontainers.core.container import DockerContainer

from tests.integration.conftest import HARDENED, ROOT, OpenPage, StartApp, http_get, url

SAMPLE = "Ada Lovelace worked with Charles Babbage in London in 1843."
MAX_CHARS = 500
SCREENSHOT = ROOT / "build" / "screenshots" / "app.png"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def app(start_app: StartApp) -> DockerContainer:
    return start_app(env={"NER_MAX_CHARS": str(MAX_CHARS)}, **HARDENED)


@pytest.fixture
def page(open_page: OpenPage, app: DockerContainer) -> Page:
    return open_page(url(app, "/"), viewport={"width": 1280, "height": 1100}, accept_downloads=True)


def table_rows(page: Page) -> list[tuple[str, str]]:
    """(text, label) of each row of the entity table (the grid's accessible DOM table)."""
    grid = page.get_by_test_id("stDataFrame").first
    grid.locator("[role=gridcell]").first.wait_for(state="attached", timeout=WAIT_MS)
    rows = grid.locator("tbody [role=row]").all()
    return [tuple(row.locator("[role=gridcell]").all_text_contents()[:2]) for row in rows]  # type: ignore[misc]


def test_sample_text_is_highlighted_and_tabulated(page: Page) -> None:
    app_page = AppPage(page)
    app_page.enter_text(SAMPLE)
    expected = [
        ("Ada Lovelace", "PERSON"),
        ("Charles Babbage", "PERSON"),
        ("London", "GPE"),
        ("1843", "DATE"),
    ]
    assert list(app_page.entities(WAIT_MS)) == expected
    assert table_rows(page) == expected
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_uploaded_text_file_is_analysed(page: Page, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Grace Hopper joined the United Nations in Paris.", encoding="utf-8")
    app_page = AppPage(page)
    app_page.upload(notes)
    assert list(app_page.entities(WAIT_MS)) == [
        ("Grace Hopper", "PERSON"),
        ("United Nations", "ORG"),
        ("Paris", "GPE"),
    ]


def test_json_download_carries_the_entities(page: Page) -> None:
    app_page = AppPage(page)
    app_page.enter_text(SAMPLE)
    app_page.wait_for_entity(timeout_ms=WAIT_MS)
    with page.expect_download(timeout=WAIT_MS) as download:
        page.get_by_role("button", name="Download JSON").click()
    entities = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert [(e["text"], e["label"], e["start"], e["end"]) for e in entities] == [
        ("Ada Lovelace", "PERSON", 0, 12),
        ("Charles Babbage", "PERSON", 25, 40),
        ("London", "GPE", 44, 50),
        ("1843", "DATE", 54, 58),
    ]


def test_text_over_the_limit_gets_the_message_and_health_stays_ok(
    page: Page, app: DockerContainer
) -> None:
    AppPage(page).enter_text("Ada Lovelace " * 50)
    alert = page.get_by_test_id("stAlertContentError")
    alert.wait_for(timeout=WAIT_MS)
    assert f"the limit is {MAX_CHARS}" in alert.inner_text()
    assert http_get(url(app, "/_stcore/health")) == (200, "ok")


def test_binary_upload_gets_the_message_and_health_stays_ok(
    page: Page, app: DockerContainer, tmp_path: Path
) -> None:
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    AppPage(page).upload(binary)
    alert = page.get_by_test_id("stAlertContentError")
    alert.wait_for(timeout=WAIT_MS)
    assert "looks like a binary file" in alert.inner_text()
    assert http_get(url(app, "/_stcore/health")) == (200, "ok")


def batch_mode(page: Page) -> AppPage:
    """Switch to batch mode; the page, to upload to the batch uploader. Streamlit shows the new
    mode's elements before the run ends and only then removes the old mode's uploader, so this
    waits until that one is gone."""
    single = page.get_by_text("…or upload a UTF-8 .txt file")
    single.wait_for(timeout=WAIT_MS)  # so the wait below cannot pass on a label that changed
    page.get_by_text("Batch of files").click()
    page.get_by_text("Upload UTF-8 .txt files").wait_for(timeout=WAIT_MS)
    single.wait_for(state="detached", timeout=WAIT_MS)
    return AppPage(page)


def test_a_batch_of_three_files_with_a_bad_one(page: Page, tmp_path: Path) -> None:
    files = {
        "a.txt": b"Grace Hopper in Paris.",
        "b.txt": b"\x89PNG\r\n\x1a\n\x00\x00",
        "c.txt": b"Ada Lovelace in London.",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    batch_mode(page).upload([tmp_path / name for name in files])
    warning = page.get_by_test_id("stAlertContentWarning")
    warning.wait_for(timeout=WAIT_MS)
    assert "b.txt looks like a binary file" in warning.inner_text()
    assert table_rows(page) == [
        ("a.txt", "Grace Hopper"),
        ("a.txt", "Paris"),
        ("c.txt", "Ada Lovelace"),
        ("c.txt", "London"),
    ]


def test_a_csv_column_in_the_browser(page: Page, tmp_path: Path) -> None:
    table = tmp_path / "people.csv"
    table.write_text("id,text\n1,Grace Hopper in Paris\n2,Ada Lovelace\n", encoding="utf-8")
    batch_mode(page).upload(table)
    assert table_rows(page) == [
        ("people.csv row 1", "Grace Hopper"),
        ("people.csv row 1", "Paris"),
        ("people.csv row 2", "Ada Lovelace"),
    ]


def test_the_batch_csv_neutralises_a_hostile_file_name_and_the_jsonl_keeps_it(
    page: Page, tmp_path: Path
) -> None:
    hostile = tmp_path / "=1+2;-3.txt"  # a formula, and another after a `;`
    hostile.write_text("Ada Lovelace in London.", encoding="utf-8")
    batch_mode(page).upload(hostile)
    table_rows(page)  # analysed
    downloads = {}
    for button in ("Download CSV", "Download JSONL"):
        with page.expect_download(timeout=WAIT_MS) as download:
            page.get_by_role("button", name=button).click()
        downloads[button] = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(downloads["Download CSV"], newline="")))
    assert rows[1][:2] == ["'=1+2;'-3.txt", "Ada Lovelace"]
    first = json.loads(downloads["Download JSONL"].splitlines()[0])
    assert (first["document"], first["text"]) == (hostile.name, "Ada Lovelace")
