"""Entity extraction, counting, filtering and highlighting: plain functions over spaCy."""

from __future__ import annotations

import hashlib
import html
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


def label_colour(label: str) -> str:
    """A light background colour for any label, the same for the same label in every
    pipeline and run (a hue from the label's hash), dark text stays readable on it."""
    hue = int.from_bytes(hashlib.sha256(label.encode()).digest()[:2], "big") % 360
    return f"hsl({hue}, 75%, 82%)"


def legend(counts: dict[str, int]) -> str:
    """HTML of one chip per label, in its colour, with its count and spaCy's description."""
    chips = []
    for label, count in counts.items():
        description = _describe(label)
        title = f' title="{html.escape(description)}"' if description else ""
        text = html.escape(label) + (f": {html.escape(description)}" if description else "")
        chips.append(
            f'<span class="ner-legend"{title} style="background:{label_colour(label)};'
            "padding:0.15em 0.5em;margin:0 0.4em 0.4em 0;border-radius:0.35em;"
            f'display:inline-block">{text} ({count})</span>'
        )
    return f'<div role="list" aria-label="Entity labels">{"".join(chips)}</div>'


def highlight(doc: Doc, labels: Sequence[str], rtl: bool = False) -> str:
    """HTML of the text with entities of the given labels highlighted (HTML-escaped), each
    label in its label_colour."""
    colours = {label: label_colour(label) for label in labels}
    options: dict[str, object] = {"ents": list(labels), "colors": colours}
    with warnings.catch_warnings():
        # W006 "no entities to visualize" is expected when the filter hides every label.
        warnings.filterwarnings("ignore", message=r"\[W006\]")
        html = displacy.render(doc, style="ent", page=False, jupyter=False, options=options)
    if rtl:
        html = f'<div dir="rtl">{html}</div>'
    return str(html)
