"""Property-based tests (hypothesis): whatever bytes or text arrive, the input checks, the API's
body parsing and the exports give a result or a clear refusal, never another exception."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from ner_app import api, export, inputs
from ner_app.analysis import Entity
from ner_app.settings import Settings

T = TypeVar("T")
LIMITS = Settings(max_chars=50, max_batch_docs=5)
ENTITIES = st.lists(
    st.builds(
        Entity,
        text=st.text(),
        label=st.text(min_size=1),
        description=st.text(),
        start=st.integers(0, 10**6),
        end=st.integers(0, 10**6),
    ),
    max_size=10,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def outcome(call: Callable[[], T], refusal: type[Exception]) -> T | Exception:
    """The call's result, or the refusal it raised (any other exception propagates)."""
    try:
        return call()
    except refusal as error:
        return error


@given(st.binary(max_size=300), st.integers(1, 400))
def test_any_upload_is_text_or_a_clear_refusal(data: bytes, max_bytes: int) -> None:
    result = outcome(lambda: inputs.decode_upload(data, "f.txt", max_bytes), inputs.InputError)
    if isinstance(result, Exception):
        assert "f.txt" in str(result)
    else:
        assert len(data) <= max_bytes
        assert "\x00" not in result


@given(st.text(max_size=120))
def test_any_text_is_accepted_or_refused_with_what_to_do(text: str) -> None:
    result = outcome(lambda: inputs.check_text(text, 100), inputs.InputError)
    if isinstance(result, Exception):
        assert not text.strip() or len(text) > 100
        assert "NER_MAX_CHARS" in str(result) or "Enter some text" in str(result)
    else:
        assert result == text


@given(st.text())
def test_replacing_control_characters_keeps_every_offset(text: str) -> None:
    cleaned, count = inputs.replace_control_characters(text)
    assert len(cleaned) == len(text)
    assert count == sum(a != b for a, b in zip(text, cleaned, strict=True))


@given(st.binary(max_size=200))
def test_any_body_is_parsed_or_refused_with_a_4xx(body: bytes) -> None:
    result = outcome(lambda: api.texts_of(api.parse_body(body), LIMITS), api.Refusal)
    if isinstance(result, api.Refusal):
        assert 400 <= result.status < 500
        assert str(result)
    else:
        assert 1 <= len(result.texts) <= LIMITS.max_batch_docs


@given(JSON_VALUES)
def test_any_json_document_is_taken_or_refused_with_422(document: object) -> None:
    body = json.dumps(document).encode()
    result = outcome(lambda: api.texts_of(api.parse_body(body), LIMITS), api.Refusal)
    if isinstance(result, api.Refusal):
        assert result.status == 422
    else:
        assert all(isinstance(text, str) and text.strip() for text in result.texts)


@settings(max_examples=50)
@given(ENTITIES)
def test_exports_read_back_to_the_same_entities(entities: list[Entity]) -> None:
    assert json.loads(export.to_json(entities)) == [vars(e) for e in entities]
    rows = list(csv.DictReader(io.StringIO(export.to_csv(entities), newline="")))
    assert [(row["text"], row["description"]) for row in rows] == [
        (export.spreadsheet_safe(e.text), export.spreadsheet_safe(e.description)) for e in entities
    ]
    for row in rows:  # the apostrophe is the only change, and only where it is needed
        for cell in (row["text"], row["description"]):
            assert cell.lstrip(" ")[:1] not in export.FORMULA_STARTS
