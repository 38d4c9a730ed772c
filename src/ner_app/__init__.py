"""A spaCy named-entity-recognition Streamlit app."""
