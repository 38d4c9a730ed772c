"""Entity extraction, counting, filtering and highlighting: plain functions over spaCy."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spacy import displacy
from spacy.glossary import explain
from spacy.language import Language
from spacy.tokens import Doc


@dataclass(frozen=True)
class Entity:
    """One entity: its text, label, the label's description and character offsets."""

    text: str
    label: str
    description: str
    start: int
    end: int


def extract_entities(doc: Doc) -> list[Entity]:
    """The document's entities in text order."""
    return [
        Entity(
            text=span.text,
            label=span.label_,
            description=_describe(span.label_),
            start=span.start_char,
            end=span.end_char,
        )
        for span in doc.ents
    ]


def _describe(label: str) -> str:
    description = explain(label)  # type: ignore[no-untyped-call]
    return str(description or "")


def analyse(nlp: Language, text: str) -> tuple[Doc, list[Entity]]:
    """Run the pipeline over the text and return the Doc and its entities."""
    doc = nlp(text)
    return doc, extract_entities(doc)


def count_by_label(entities: Iterable[Entity]) -> dict[str, int]:
    """How many entities carry each label, most frequent first (ties by label)."""
    return count_labels(entity.label for entity in entities)


def count_labels(labels: Iterable[str]) -> dict[str, int]:
    """How often each label occurs, most frequent first (ties by label)."""
    counts = Counter(labels)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def filter_by_labels(entities: Iterable[Entity], labels: Sequence[str]) -> list[Entity]:
    """The entities whose label is among the given labels, in text order."""
    wanted = set(labels)
    return [entity for entity in entities if entity.label in wanted]


def highlight(doc: Doc, labels: Sequence[str], rtl: bool = False) -> str:
    """HTML of the text with entities of the given labels highlighted (HTML-escaped)."""
    options: dict[str, object] = {"ents": list(labels)}
    with warnings.catch_warnings():
        # W006 "no entities to visualize" is expected when the filter hides every label.
        warnings.filterwarnings("ignore", message=r"\[W006\]")
        html = displacy.render(doc, style="ent", page=False, jupyter=False, options=options)
    if rtl:
        html = f'<div dir="rtl">{html}</div>'
    return str(html)
