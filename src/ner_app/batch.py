"""Batch input: several .txt files, or the rows of one .csv or .jsonl column, as documents.

Plain functions over bytes, so the page and the tests share them. A file or row that cannot
be read is a problem named by where it is; the other documents still run. The batch as a whole
is refused only when it breaks a limit (NER_MAX_BATCH_DOCS, NER_MAX_BATCH_BYTES).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from ner_app.inputs import InputError, check_text, decode_upload
from ner_app.settings import Settings

TABLE_SUFFIXES = (".csv", ".jsonl")


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


@dataclass(frozen=True)
class Document:
    source: str  # the file, or file and row: "people.csv row 3"
    text: str


@dataclass
class Batch:
    documents: list[Document] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_limits(uploads: Sequence[Upload], settings: Settings) -> None:
    """Refuse a batch larger than NER_MAX_BATCH_BYTES in all."""
    total = sum(len(upload.data) for upload in uploads)
    if total > settings.max_batch_bytes:
        raise InputError(
            f"The batch is {total:,} bytes; the limit is {settings.max_batch_bytes:,}. Upload "
            "fewer or smaller files (the limit is set by NER_MAX_BATCH_BYTES)."
        )


def is_table(uploads: Sequence[Upload]) -> bool:
    return len(uploads) == 1 and uploads[0].name.lower().endswith(TABLE_SUFFIXES)


def rows_of(upload: Upload, settings: Settings) -> tuple[list[dict[str, object]], list[str]]:
    """The rows of a .csv or .jsonl upload, and the problems of rows that cannot be read."""
    text = decode_upload(upload.data, upload.name, settings.max_batch_bytes)
    if upload.name.lower().endswith(".csv"):
        return list(csv.DictReader(io.StringIO(text, newline=""))), []
    rows: list[dict[str, object]] = []
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"{upload.name} line {number}: not JSON ({error.msg})")
            continue
        if not isinstance(row, dict):
            problems.append(f"{upload.name} line {number}: not a JSON object")
            continue
        rows.append(row)
    return rows, problems


def columns_of(rows: Sequence[dict[str, object]]) -> list[str]:
    """The columns that hold text in some row, "text" first when there is one."""
    found = dict.fromkeys(
        str(key) for row in rows for key, value in row.items() if isinstance(value, str)
    )
    return sorted(found, key=lambda name: (name != "text", list(found).index(name)))


def from_rows(
    name: str, rows: Sequence[dict[str, object]], column: str, settings: Settings
) -> Batch:
    batch = Batch()
    for number, row in enumerate(rows, start=1):
        where = f"{name} row {number}"
        value = row.get(column)
        if not isinstance(value, str):
            batch.problems.append(f"{where}: no text in column {column!r}")
            continue
        add(batch, where, value, settings)
    return batch


def from_files(uploads: Sequence[Upload], settings: Settings) -> Batch:
    batch = Batch()
    for upload in uploads:
        try:
            text = decode_upload(upload.data, upload.name, settings.max_upload_bytes)
        except InputError as error:
            batch.problems.append(str(error))
            continue
        add(batch, upload.name, text, settings)
    return batch


def add(batch: Batch, source: str, text: str, settings: Settings) -> None:
    try:
        batch.documents.append(Document(source, check_text(text, settings.max_chars)))
    except InputError as error:
        batch.problems.append(f"{source}: {error}")


def check_count(batch: Batch, settings: Settings) -> None:
    if len(batch.documents) > settings.max_batch_docs:
        raise InputError(
            f"The batch has {len(batch.documents):,} documents; the limit is "
            f"{settings.max_batch_docs:,}. Split it (the limit is set by NER_MAX_BATCH_DOCS)."
        )
