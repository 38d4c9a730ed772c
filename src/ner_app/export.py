"""Entities as JSON and CSV for download."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields

from ner_app.analysis import Entity

COLUMNS = tuple(field.name for field in fields(Entity))


def to_json(entities: Sequence[Entity]) -> str:
    """A JSON array of entity objects (UTF-8 kept as is)."""
    return json.dumps([asdict(entity) for entity in entities], ensure_ascii=False, indent=2)


def to_csv(entities: Sequence[Entity]) -> str:
    """A CSV table with a header row and one row per entity, lines ended by CRLF (RFC 4180):
    the csv module quotes a field holding any character of the line terminator, so a lone CR
    or LF in a text stays inside its quoted field."""
    return rows_to_csv([asdict(entity) for entity in entities], COLUMNS)


def rows_to_csv(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """Rows as CSV with a header row (CRLF line ends, as to_csv)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_jsonl(rows: Sequence[Mapping[str, object]]) -> str:
    """One JSON object per line (UTF-8 kept as is)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
