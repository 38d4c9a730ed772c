"""Entities as JSON and CSV for download.

CSV is what people open in spreadsheet programs, and its cells come from user-controlled text
(entity text, file names). Following OWASP's "CSV Injection" guidance, every field is quoted, a
text a spreadsheet would read as a formula gets a leading apostrophe (which spreadsheets take as
"this is text"), and so does a sign after a separator or quote inside a text, where a program
splitting lines at another separator (`;` and tab in some locales) would start a cell. JSON
keeps the exact text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields

from ner_app.analysis import Entity

COLUMNS = tuple(field.name for field in fields(Entity))
# A cell starting with one of these is a formula (or turns into one) in Excel, LibreOffice Calc
# or Google Sheets: the ASCII signs, their full-width forms (which some East Asian locales
# convert), and the control characters OWASP and ASVS name. Leading spaces do not hide them.
SIGNS = "=+-@\0" + "\uff1d\uff0b\uff0d\uff20"  # the same four, full width
FORMULA_STARTS = frozenset(SIGNS + "\t\r\n")
SEPARATORS = ",;\t\r\n\"'"  # where a spreadsheet may start a new cell (or end a quoted one)
TEXT_MARKER = "'"
_SIGN_AFTER_SEPARATOR = re.compile(f"([{re.escape(SEPARATORS)}] *)(?=[{re.escape(SIGNS)}])")


def to_json(entities: Sequence[Entity]) -> str:
    """A JSON array of entity objects (UTF-8 kept as is)."""
    return json.dumps([asdict(entity) for entity in entities], ensure_ascii=False, indent=2)


def to_csv(entities: Sequence[Entity]) -> str:
    """A CSV table with a header row and one row per entity, lines ended by CRLF (RFC 4180):
    the csv module quotes a field holding any character of the line terminator, so a lone CR
    or LF in a text stays inside its quoted field."""
    return rows_to_csv([asdict(entity) for entity in entities], COLUMNS)


def spreadsheet_safe(value: object) -> object:
    """A text with an apostrophe before each sign that would start a formula (at its start, or
    after a separator or quote); any other value as it is."""
    if not isinstance(value, str):
        return value
    text = _SIGN_AFTER_SEPARATOR.sub(rf"\1{TEXT_MARKER}", value)
    return TEXT_MARKER + text if text.lstrip(" ")[:1] in FORMULA_STARTS else text


def rows_to_csv(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """Rows as CSV with a header row (CRLF line ends, as to_csv). Every field is quoted, so a
    separator inside a text (`,` or the `;` some locales use) cannot start a new cell, and a
    formula-like text is neutralised (spreadsheet_safe)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(
        buffer, fieldnames=list(columns), lineterminator="\r\n", quoting=csv.QUOTE_ALL
    )
    writer.writeheader()
    writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


def to_jsonl(rows: Sequence[Mapping[str, object]]) -> str:
    """One JSON object per line (UTF-8 kept as is)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
