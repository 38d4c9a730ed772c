"""The Streamlit page: a thin view over ner_app's plain functions."""

from __future__ import annotations

import hashlib

import streamlit as st
from spacy.language import Language

from ner_app import analysis, export, inputs
from ner_app.examples import EXAMPLES
from ner_app.loader import cached_pipeline
from ner_app.pipeline import PipelineInfo, PipelineLoadError, describe
from ner_app.settings import Settings, SettingsError

NO_EXAMPLE = "(your own text)"


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
    st.html(analysis.highlight(doc, labels, rtl=inputs.is_right_to_left(text)))
    st.subheader("Entities")
    st.dataframe([vars(entity) for entity in shown], hide_index=True)
    st.subheader("Counts per label")
    st.dataframe([{"label": k, "count": v} for k, v in counts.items()], hide_index=True)
    left, right = st.columns(2)
    left.download_button(
        "Download JSON", export.to_json(shown), "entities.json", "application/json"
    )
    right.download_button("Download CSV", export.to_csv(shown), "entities.csv", "text/csv")


def label_filter(text: str, labels: list[str]) -> list[str]:
    """The labels to show: every label of a new text; the user's choice while the text stays.
    (A keyed multiselect keeps its value across texts: a label missing from one text would stay
    hidden in the next.)"""
    analysed = hashlib.sha256(text.encode()).hexdigest()
    if st.session_state.get("labels_of") != analysed:
        st.session_state["labels_of"] = analysed
        st.session_state["labels"] = labels
    return st.multiselect("Show labels", labels, key="labels")


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
    text = read_input(settings)
    if text is not None:
        show_results(nlp, text)


main()
