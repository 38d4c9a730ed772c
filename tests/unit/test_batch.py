"""Batch input: files and table rows as documents, problems named, limits refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ner_app import batch
from ner_app.inputs import InputError
from ner_app.settings import Settings

SETTINGS = Settings(max_chars=40, max_upload_bytes=100, max_batch_docs=3, max_batch_bytes=500)


def test_jsonl_rows_skip_blank_lines_and_name_bad_ones() -> None:
    data = b'{"text": "Ada", "n": 1}\n\nnot json\n[1, 2]\n{"text": "Grace"}\n'
    rows, problems = batch.rows_of(batch.Upload("x.jsonl", data), SETTINGS)
    assert rows == [{"text": "Ada", "n": 1}, {"text": "Grace"}]
    assert problems == [
        "x.jsonl line 3: not JSON (Expecting value)",
        "x.jsonl line 4: not a JSON object",
    ]


def test_text_columns_put_text_first_and_leave_numbers_out() -> None:
    rows: list[dict[str, object]] = [{"id": 1, "body": "a", "text": "b"}, {"title": "c"}]
    assert batch.columns_of(rows) == ["text", "body", "title"]


def test_rows_without_text_in_the_column_are_named() -> None:
    rows: list[dict[str, object]] = [
        {"text": "Ada"}, {"text": 3}, {"other": "x"}, {"text": "x" * 41},
    ]  # fmt: skip
    found = batch.from_rows("t.csv", rows, "text", SETTINGS)
    assert [d.source for d in found.documents] == ["t.csv row 1"]
    assert found.problems[0] == "t.csv row 2: no text in column 'text'"
    assert found.problems[1] == "t.csv row 3: no text in column 'text'"
    assert found.problems[2].startswith("t.csv row 4: The text has 41 characters")


def test_limits_refuse_the_whole_batch_with_what_to_do() -> None:
    with pytest.raises(InputError, match="NER_MAX_BATCH_BYTES"):
        batch.check_limits([batch.Upload("a.txt", b"x" * 300)] * 2, SETTINGS)
    many = batch.from_files([batch.Upload(f"{n}.txt", b"Ada") for n in range(4)], SETTINGS)
    with pytest.raises(InputError, match="4 documents; the limit is 3"):
        batch.check_count(many, SETTINGS)


def test_one_table_is_a_table_and_several_files_are_files() -> None:
    assert batch.is_table([batch.Upload("A.CSV", b"")])
    assert not batch.is_table([batch.Upload("a.csv", b""), batch.Upload("b.txt", b"")])
    assert not batch.is_table([batch.Upload("a.txt", b"")])


@given(st.binary(max_size=400), st.sampled_from(["t.csv", "t.jsonl"]))
def test_any_table_bytes_give_rows_or_a_clear_refusal(data: bytes, name: str) -> None:
    try:
        rows, problems = batch.rows_of(batch.Upload(name, data), SETTINGS)
    except InputError as error:
        message = str(error)
    else:
        message = ""
        columns = batch.columns_of(rows)
        for column in columns:
            found = batch.from_rows(name, rows, column, SETTINGS)
            assert len(found.documents) + len(found.problems) == len(rows)
        assert all(problem.startswith(name) for problem in problems)
    assert not message or name in message
