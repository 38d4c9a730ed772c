"""The pipeline, loaded once per process and shared by the page and the readiness route."""

from __future__ import annotations

import streamlit as st
from spacy.language import Language

from ner_app.pipeline import load_pipeline


@st.cache_resource(show_spinner="Loading the spaCy pipeline…")
def cached_pipeline(name: str) -> Language:
    """Load the named pipeline the first time it is asked for; later calls reuse it."""
    return load_pipeline(name)
