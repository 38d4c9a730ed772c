"""The session driver's pure parts: samples, reading the page, checks and the summary."""

from __future__ import annotations

import dataclasses
import re

import pytest
from ner_build.browser.sessions import (
    OUTCOME_JS,
    TEXTS,
    UPLOADS,
    Seen,
    SessionResult,
    finds_all,
    finds_exactly,
    one_line,
    parse_marks,
    playwright_message,
    samples_for,
    summarize,
)


def result(index: int, replicas: tuple[str, ...] = (), error: str | None = None) -> SessionResult:
    return SessionResult(index, error is None, (), (), replicas, None, error, 1.0)


def test_marks_read_as_entity_text_and_label() -> None:
    marks = ["Ada Lovelace PERSON ", "London GPE", " New  York GPE"]
    assert parse_marks(marks) == (
        ("Ada Lovelace", "PERSON"),
        ("London", "GPE"),
        ("New York", "GPE"),
    )


def test_every_sample_shows_other_entities_with_the_same_labels() -> None:
    """The driver waits for the page to change, and the page keeps the labels chosen before."""
    samples = TEXTS + UPLOADS
    assert len({sample.entities for sample in samples}) == len(samples)
    assert {frozenset(label for _, label in s.entities) for s in samples} == {
        frozenset({"PERSON", "GPE", "DATE"})
    }
    for sample in samples:
        for text, _ in sample.entities:
            assert text in sample.text


@pytest.mark.parametrize("round_", [0, 1, 5])
def test_sessions_get_their_own_samples_each_round(round_: int) -> None:
    pairs = [samples_for(index, round_) for index in range(len(TEXTS))]
    assert len(set(pairs)) == len(TEXTS)
    assert samples_for(0, round_) != samples_for(0, round_ + 1)


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


def test_lines_are_joined_and_playwright_errors_lose_their_call_log() -> None:
    assert one_line("Connection error\n\n  Try again \n") == "Connection error: Try again"
    error = Exception("Page.goto: net::ERR_CONNECTION_REFUSED at http://x/\nCall log:\n  - nav")
    assert playwright_message(error) == "Page.goto: net::ERR_CONNECTION_REFUSED at http://x/"
    assert playwright_message(Exception("")) == "Exception"


def test_checks_accept_extra_entities_only_when_not_exact() -> None:
    sample = TEXTS[0]
    more = (*sample.entities, ("Monday", "DATE"))
    assert finds_all(sample, more) is None
    assert finds_exactly(sample, sample.entities) is None
    assert "expected" in (finds_exactly(sample, more) or "")
    assert "missing [('1843', 'DATE')]" in (finds_all(sample, sample.entities[:3]) or "")


def test_summary_counts_sessions_per_replica_spread_and_errors() -> None:
    refused = "Error: AxiosError: Request failed with status code 403"
    results = [
        result(0, ("r1",)),
        result(1, ("r1",)),
        result(2, ("r2",), refused),
        result(3, ("r1", "r2")),
        result(4, (), refused),
        result(5, (), "timed out"),
    ]
    assert summarize(results) == {
        "total": 6,
        "ok": 3,
        "failed": 3,
        "replicas": {"none": 2, "r1": 2, "r2": 1, "spread": 1},
        "errors": {refused: 2, "timed out": 1},
    }


def test_summary_of_nothing_is_zeros() -> None:
    assert summarize([]) == {
        "total": 0,
        "ok": 0,
        "failed": 0,
        "replicas": {},
        "errors": {},
    }
