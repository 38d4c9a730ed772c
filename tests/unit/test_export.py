import csv
import io
import json

from ner_app.analysis import Entity
from ner_app.export import COLUMNS, to_csv, to_json

ENTITIES = [
    Entity('Zoë, "the" first', "PERSON", "People, including fictional", 0, 16),
    Entity("Köln", "GPE", "Countries, cities, states", 20, 24),
]


def test_json_round_trips_every_field() -> None:
    assert [Entity(**row) for row in json.loads(to_json(ENTITIES))] == ENTITIES


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
    assert to_csv([]) == ",".join(COLUMNS) + "\r\n"  # RFC 4180 line ends
