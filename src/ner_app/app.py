"""The Streamlit page: a thin view over ner_app's plain functions."""

from __future__ import annotations

import hashlib

import streamlit as st
from spacy.language import Language

from ner_app import analysis, batch, export, inputs
from ner_app.examples import EXAMPLES
from ner_app.loader import cached_pipeline
from ner_app.pipeline import PipelineInfo, PipelineLoadError, describe
from ner_app.settings import Settings, SettingsError

NO_EXAMPLE = "(your own text)"
MODES = ("Paste or upload", "Batch of files")
BATCH_COLUMNS = ("document", "text", "label", "start", "end")


def show_sidebar(info: PipelineInfo) -> None:
    sidebar = st.sidebar
    sidebar.header("Pipeline")
    sidebar.markdown(f"**{info.name}** {info.version}  \nspaCy {info.spacy_version}")
    sidebar.caption("Components")
    sidebar.write(", ".join(info.components) or "(none)")
    sidebar.caption("Entity labels")
    sidebar.write(", ".join(info.labels) or "(none)")


def use_example() -> None:
    choice = st.session_state["example"]
    if choice in EXAMPLES:
        st.session_state["text"] = EXAMPLES[choice]


def read_input(settings: Settings) -> str | None:
    """The text to analyse (an upload wins over the text area), or None after a message."""
    st.selectbox("Example", [NO_EXAMPLE, *EXAMPLES], key="example", on_change=use_example)
    text = st.text_area("Text", key="text", height=180, placeholder="Paste text here…")
    limit = settings.max_upload_bytes
    upload = st.file_uploader(
        f"…or upload a UTF-8 .txt file (at most {limit:,} bytes)",
        type=["txt"],
        key="upload",
        max_upload_size=inputs.upload_limit_mb(limit),
    )
    try:
        if upload is not None:
            text = inputs.decode_upload(upload.getvalue(), upload.name, settings.max_upload_bytes)
        return inputs.check_text(text, settings.max_chars)
    except inputs.InputError as error:
        (st.info if "Enter some text" in str(error) else st.error)(str(error))
        return None


def show_results(nlp: Language, text: str) -> None:
    text, replaced = inputs.replace_control_characters(text)
    if replaced:
        st.warning(f"Replaced {replaced} control character(s) with spaces.")
    doc, entities = analysis.analyse(nlp, text)
    counts = analysis.count_by_label(entities)
    if not entities:
        st.info("No entities found in this text.")
        return
    labels = label_filter(text, list(counts))
    shown = analysis.filter_by_labels(entities, labels)
    st.html(analysis.legend({label: counts[label] for label in labels}))
    st.html(analysis.highlight(doc, labels, rtl=inputs.is_right_to_left(text)))
    st.subheader("Entities")
    st.dataframe([vars(entity) for entity in shown], hide_index=True)
    st.subheader("Counts per label")
    st.dataframe([{"label": k, "count": v} for k, v in counts.items()], hide_index=True)
    left, right = st.columns(2)  # a download changes nothing: the page need not run again
    left.download_button(
        "Download JSON",
        export.to_json(shown),
        "entities.json",
        "application/json",
        on_click="ignore",
    )
    right.download_button(
        "Download CSV", export.to_csv(shown), "entities.csv", "text/csv", on_click="ignore"
    )


def label_filter(text: str, labels: list[str]) -> list[str]:
    """The labels to show: every label of a new text; the user's choice while the text stays.
    (A keyed multiselect keeps its value across texts: a label missing from one text would stay
    hidden in the next.)"""
    analysed = hashlib.sha256(text.encode()).hexdigest()
    if st.session_state.get("labels_of") != analysed:
        st.session_state["labels_of"] = analysed
        st.session_state["labels"] = labels
    return st.multiselect("Show labels", labels, key="labels")


def read_batch(settings: Settings) -> batch.Batch | None:
    """The batch's documents (problems of single files or rows listed), or None after a
    message."""
    files = st.file_uploader(
        f"Upload .txt files, or one .csv or .jsonl file (at most {settings.max_batch_docs:,} "
        f"documents and {settings.max_batch_bytes:,} bytes)",
        type=["txt", "csv", "jsonl"],
        accept_multiple_files=True,
        key="batch",
        max_upload_size=inputs.upload_limit_mb(settings.max_batch_bytes),
    )
    if not files:
        st.info("Upload UTF-8 .txt files, or a .csv or .jsonl file and pick its text column.")
        return None
    uploads = [batch.Upload(f.name, f.getvalue()) for f in files]
    try:
        batch.check_limits(uploads, settings)
        found = read_table(uploads[0], settings) if batch.is_table(uploads) else None
        found = found or batch.from_files(uploads, settings)
        batch.check_count(found, settings)
    except inputs.InputError as error:
        st.error(str(error))
        return None
    for problem in found.problems:
        st.warning(problem)
    return found


def read_table(upload: batch.Upload, settings: Settings) -> batch.Batch:
    rows, problems = batch.rows_of(upload, settings)
    columns = batch.columns_of(rows)
    if not columns:
        raise inputs.InputError(f"{upload.name} has no column with text in it.")
    column = st.selectbox("Text column", columns, key="column")
    found = batch.from_rows(upload.name, rows, column, settings)
    found.problems[:0] = problems
    return found


def analyse_batch(nlp: Language, documents: list[batch.Document]) -> list[dict[str, object]]:
    """Entity rows of every document, through nlp.pipe, with a progress bar."""
    progress = st.progress(0.0, text=f"0 of {len(documents)} documents")
    texts = (inputs.replace_control_characters(d.text)[0] for d in documents)
    rows: list[dict[str, object]] = []
    for done, (document, doc) in enumerate(zip(documents, nlp.pipe(texts), strict=True), 1):
        rows += [
            {"document": document.source, "text": e.text, "label": e.label, "start": e.start,
             "end": e.end}
            for e in analysis.extract_entities(doc)
        ]  # fmt: skip
        progress.progress(done / len(documents), text=f"{done} of {len(documents)} documents")
    progress.empty()
    return rows


def run_batch_mode(nlp: Language, settings: Settings) -> None:
    found = read_batch(settings)
    if found is None or not found.documents:
        return
    key = hashlib.sha256(repr(found.documents).encode()).hexdigest()
    if st.session_state.get("batch_key") != key:
        st.session_state["batch_key"] = key
        st.session_state["batch_rows"] = analyse_batch(nlp, found.documents)
    rows: list[dict[str, object]] = st.session_state["batch_rows"]
    st.success(f"{len(found.documents)} documents analysed: {len(rows)} entities.")
    counts = analysis.count_labels(str(row["label"]) for row in rows)
    labels = label_filter(key, list(counts))
    shown = [row for row in rows if row["label"] in labels]
    st.html(analysis.legend({label: counts[label] for label in labels}))
    st.subheader("Entities")
    st.dataframe(shown, hide_index=True, key="batch_table")
    st.subheader("Counts per label")
    st.dataframe([{"label": k, "count": v} for k, v in counts.items()], hide_index=True)
    left, right = st.columns(2)
    left.download_button(
        "Download CSV", export.rows_to_csv(shown, BATCH_COLUMNS), "entities.csv", "text/csv",
        on_click="ignore",
    )  # fmt: skip
    right.download_button(
        "Download JSONL", export.to_jsonl(shown), "entities.jsonl", "application/x-ndjson",
        on_click="ignore",
    )  # fmt: skip


def main() -> None:
    st.set_page_config(page_title="Named entities", layout="wide")
    st.title("Named entities")
    try:
        settings = Settings.from_env()
        nlp = cached_pipeline(settings.model)
    except (SettingsError, PipelineLoadError) as error:
        st.error(str(error))
        st.stop()
    show_sidebar(describe(nlp))
    if st.radio("Mode", MODES, horizontal=True, key="mode") == MODES[1]:
        run_batch_mode(nlp, settings)
        return
    text = read_input(settings)
    if text is not None:
        show_results(nlp, text)


main()
