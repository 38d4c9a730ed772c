"""The page object's pure parts: reading marks, what the page shows, the page script's shape,
and that no other module writes its steps. The steps need a real browser: tests/integration
(test_browser, test_sessions, test_bundle, test_trained_pipeline) and `nox -s bench` take them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import ner_build
from ner_build.browser.page import OUTCOME_JS, Seen, one_line, parse_marks

from ..support import ROOT

TOOLS = Path(ner_build.__file__).parent


def test_marks_read_as_entity_text_and_label() -> None:
    marks = ["Ada Lovelace PERSON ", "London GPE", " New  York GPE"]
    assert parse_marks(marks) == (
        ("Ada Lovelace", "PERSON"),
        ("London", "GPE"),
        ("New York", "GPE"),
    )


def test_the_entities_seen_are_its_marks_read() -> None:
    seen = Seen(marks=("Ada Lovelace PERSON", "London GPE"), alerts=("ignored",))
    assert seen.entities() == (("Ada Lovelace", "PERSON"), ("London", "GPE"))
    assert Seen().entities() == ()


def test_a_dialog_or_the_uploaders_error_wins_over_stale_entities() -> None:
    lost = Seen(marks=("London GPE",), dialogs=("Connection error\nStreamlit server is down",))
    assert lost.error() == "Connection error: Streamlit server is down"
    refused = Seen(
        marks=("London GPE",), uploader=("Error: AxiosError: Request failed with status code 403",)
    )
    assert refused.error() == "Error: AxiosError: Request failed with status code 403"


def test_entities_are_no_error_and_alerts_without_entities_are() -> None:
    assert Seen(marks=("London GPE",)).error() is None
    assert Seen(alerts=("No entities found in this text.",)).error() == (
        "the app said: No entities found in this text."
    )
    assert Seen().error() == "no entities and no message shown"
    assert Seen().message() is None


def test_seen_has_the_fields_the_page_script_returns_in_its_order() -> None:
    """The script compares what it sees with `before` as JSON: same keys, same order."""
    names = [field.name for field in dataclasses.fields(Seen)]
    assert re.findall(r"^\s+(\w+): texts\(", OUTCOME_JS, re.MULTILINE) == names
    assert Seen.of({"marks": ["a B"], "dialogs": ["x"]}) == Seen(marks=("a B",), dialogs=("x",))


def test_seen_goes_back_to_the_page_script_as_the_script_gave_it() -> None:
    raw = {"marks": ["London GPE"], "alerts": [], "uploader": ["403"], "dialogs": []}
    seen = Seen.of(raw)
    assert seen.as_js() == raw
    assert list(seen.as_js()) == list(raw)  # the order JSON.stringify compares in


def test_lines_are_joined() -> None:
    assert one_line("Connection error\n\n  Try again \n") == "Connection error: Try again"


STEPS = ('"Control+Enter"', 'get_by_label("Text")', '"input[type=file]"', 'locator("mark"')


def writers(folders: list[Path], needles: tuple[str, ...] = STEPS) -> list[str]:
    """The Python files under the folders that write one of the page's steps themselves."""
    return sorted(
        path.name
        for folder in folders
        for path in folder.rglob("*.py")
        if any(needle in path.read_text(encoding="utf-8") for needle in needles)
    )


def test_only_the_page_object_writes_the_pages_steps() -> None:
    """The bench, the sessions and the integration tests take them from page.py."""
    assert writers([TOOLS, ROOT / "tests" / "integration"]) == ["page.py"]


def test_the_check_sees_a_step_written_again(tmp_path: Path) -> None:
    """The control: the bench's submit as it was, before the page object."""
    (tmp_path / "command.py").write_text('area.press("Control+Enter")\n')
    (tmp_path / "other.py").write_text("pass\n")
    assert writers([tmp_path]) == ["command.py"]
