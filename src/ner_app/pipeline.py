"""Loading a spaCy pipeline and describing what was loaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata

import spacy
from spacy.about import __version__ as SPACY_VERSION
from spacy.language import Language
from spacy.util import is_compatible_version


class PipelineLoadError(RuntimeError):
    """The configured pipeline cannot be used; the message says what to do."""


@dataclass(frozen=True)
class PipelineInfo:
    """What the sidebar shows about the loaded pipeline."""

    name: str
    version: str
    spacy_version: str
    components: tuple[str, ...]
    labels: tuple[str, ...]


def load_pipeline(name: str) -> Language:
    """Load an installed pipeline package (or a pipeline directory) by name.

    Raises PipelineLoadError when the package is missing, fails to load or was made
    for a spaCy version other than the one installed.
    """
    try:
        nlp = spacy.load(name)
    except OSError as error:
        raise PipelineLoadError(
            f"The spaCy pipeline {name!r} is not installed. Install its package "
            f"(for example `pip install {name}` or its wheel) or set NER_MODEL to an "
            f"installed pipeline. spaCy said: {error}"
        ) from error
    except Exception as error:  # spaCy raises many types for a broken or foreign pipeline
        raise PipelineLoadError(
            f"The spaCy pipeline {name!r} could not be loaded ({type(error).__name__}: {error}). "
            "Reinstall a package built for this spaCy version."
        ) from error
    _check_compatible(name, nlp)
    return nlp


def _check_compatible(name: str, nlp: Language) -> None:
    wanted = str(nlp.meta.get("spacy_version", ""))
    if wanted and is_compatible_version(SPACY_VERSION, wanted) is False:
        raise PipelineLoadError(
            f"The spaCy pipeline {name!r} requires spaCy {wanted}, but spaCy "
            f"{SPACY_VERSION} is installed. Install a version of the pipeline made for "
            f"spaCy {SPACY_VERSION}."
        )


def describe(nlp: Language) -> PipelineInfo:
    """Name, versions, components and entity labels of a loaded pipeline."""
    meta = nlp.meta
    return PipelineInfo(
        name=f"{meta.get('lang', nlp.lang)}_{meta.get('name', 'pipeline')}",
        version=str(meta.get("version", "unknown")),
        spacy_version=SPACY_VERSION,
        components=tuple(nlp.pipe_names),
        labels=entity_labels(nlp),
    )


def entity_labels(nlp: Language) -> tuple[str, ...]:
    """All entity labels any component of the pipeline can assign, sorted."""
    labels = {
        str(label)
        for _, component in nlp.pipeline
        if type(component).__name__ in _ENTITY_COMPONENTS
        for label in getattr(component, "labels", ())
    }
    return tuple(sorted(labels))


_ENTITY_COMPONENTS = frozenset({"EntityRecognizer", "EntityRuler", "SpanRuler"})


def package_sha256(name: str) -> str | None:
    """The sha256 of the wheel the pipeline package was installed from, as pip recorded it
    (direct_url.json); None for a pipeline that is a folder or was installed another way."""
    try:
        recorded = metadata.distribution(name).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not recorded:
        return None
    archive = json.loads(recorded).get("archive_info", {})
    hashes = archive.get("hashes") or {}
    if hashes.get("sha256"):
        return str(hashes["sha256"])
    algorithm, _, value = str(archive.get("hash", "")).partition("=")  # the older form
    return value if algorithm == "sha256" and value else None
