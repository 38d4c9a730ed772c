"""What the concurrent sessions give the app and must see: the sentences they type and upload,
each with its entities, and the checks of what a session found."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ner_build.browser.page import Entities, Entity


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
