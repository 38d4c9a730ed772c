"""The sessions' samples and the checks of what a session found."""

from __future__ import annotations

import pytest
from ner_build.browser.samples import TEXTS, UPLOADS, finds_all, finds_exactly, samples_for


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


def test_checks_accept_extra_entities_only_when_not_exact() -> None:
    sample = TEXTS[0]
    more = (*sample.entities, ("Monday", "DATE"))
    assert finds_all(sample, more) is None
    assert finds_exactly(sample, sample.entities) is None
    assert "expected" in (finds_exactly(sample, more) or "")
    assert "missing [('1843', 'DATE')]" in (finds_all(sample, sample.entities[:3]) or "")
