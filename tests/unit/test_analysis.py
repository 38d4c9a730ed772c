import pytest
from ner_build.build.test_pipeline import make_pipeline
from spacy.language import Language

from ner_app.analysis import Entity, analyse, count_by_label, filter_by_labels, highlight


@pytest.fixture(scope="module")
def nlp() -> Language:
    return make_pipeline()


def test_entities_come_with_label_descriptions_and_offsets(nlp: Language) -> None:
    text = "Ada Lovelace lived in London."
    _, entities = analyse(nlp, text)
    assert entities == [
        Entity("Ada Lovelace", "PERSON", "People, including fictional", 0, 12),
        Entity("London", "GPE", "Countries, cities, states", 22, 28),
    ]
    assert all(text[e.start : e.end] == e.text for e in entities)


def test_counts_are_most_frequent_first(nlp: Language) -> None:
    _, entities = analyse(nlp, "London, Paris and Berlin; Ada Lovelace in June.")
    assert count_by_label(entities) == {"GPE": 3, "DATE": 1, "PERSON": 1}


def test_filter_keeps_only_the_chosen_labels_in_order(nlp: Language) -> None:
    _, entities = analyse(nlp, "Ada Lovelace met Charles Babbage in London.")
    assert [e.text for e in filter_by_labels(entities, ["PERSON"])] == [
        "Ada Lovelace",
        "Charles Babbage",
    ]


def test_highlight_escapes_html_and_marks_only_chosen_labels(nlp: Language) -> None:
    doc, _ = analyse(nlp, "<script>alert(1)</script> Ada Lovelace in London")
    html = highlight(doc, ["PERSON"])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "Ada Lovelace" in html
    assert "PERSON" in html
    assert "GPE" not in html


def test_right_to_left_text_is_wrapped_in_an_rtl_block(nlp: Language) -> None:
    doc, _ = analyse(nlp, "שלום London")
    assert highlight(doc, ["GPE"], rtl=True).startswith('<div dir="rtl">')


@pytest.mark.parametrize("text", ["🙂🙂 Ada Lovelace 🙂", "a\u200bb\u202ec", "\u0000" * 3])
def test_unusual_characters_do_not_break_extraction(nlp: Language, text: str) -> None:
    doc, entities = analyse(nlp, text)
    assert all(text[e.start : e.end] == e.text for e in entities)
    assert isinstance(highlight(doc, ["PERSON"]), str)


def test_every_label_gets_a_stable_colour_of_its_own() -> None:
    from ner_app.analysis import label_colour

    labels = ["PERSON", "ORG", "GPE", "DATE", "DISEASE", "CHEMICAL", "Gen", "产品"]
    colours = [label_colour(label) for label in labels]
    assert len(set(colours)) == len(labels)
    assert colours == [label_colour(label) for label in labels]
    assert all(c.startswith("hsl(") for c in colours)


def test_the_legend_names_each_label_with_spacys_description_and_escapes(nlp: Language) -> None:
    from ner_app.analysis import label_colour, legend

    html = legend({"PERSON": 2, "<b>X</b>": 1})
    assert "People, including fictional" in html
    assert "PERSON" in html
    assert "(2)" in html
    assert label_colour("PERSON") in html
    assert "<b>X</b>" not in html
    assert "&lt;b&gt;X&lt;/b&gt;" in html


def test_highlighting_uses_the_label_colours(nlp: Language) -> None:
    from ner_app.analysis import analyse, highlight, label_colour

    doc, _ = analyse(nlp, "Ada Lovelace in London")
    html = highlight(doc, ["PERSON", "GPE"])
    assert label_colour("PERSON") in html
    assert label_colour("GPE") in html
