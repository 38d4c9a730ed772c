"""Whether the configured pipeline has loaded, for the readiness route.

Importing this module imports neither spaCy nor Streamlit, so the server binds (and answers
liveness) before spaCy is imported: the preload thread imports it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from typing import ClassVar

from ner_app.settings import Settings, SettingsError


class Readiness:
    """Loads the pipeline once and reports the outcome as an HTTP status and a body."""

    DRAINING: ClassVar[dict[str, object]] = {
        "status": "draining",
        "reason": "shutting down; open sessions are finishing",
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._body: dict[str, object] = {"status": "loading"}
        self._status = 503
        self._draining = False

    def load(self) -> None:
        # Imported here: spaCy and Streamlit take most of a second to import.
        from ner_app.loader import cached_pipeline
        from ner_app.metrics import PIPELINE_LOAD_SECONDS
        from ner_app.pipeline import PipelineLoadError, describe

        started = time.perf_counter()
        try:
            nlp = cached_pipeline(Settings.from_env().model)
        except (SettingsError, PipelineLoadError) as error:
            self._set(503, {"status": "failed", "error": str(error)})
        else:
            PIPELINE_LOAD_SECONDS.set(time.perf_counter() - started)
            self._set(200, {"status": "ready", "pipeline": asdict(describe(nlp))})

    def report(self) -> tuple[int, dict[str, object]]:
        with self._lock:
            if self._draining:
                return 503, dict(self.DRAINING)
            return self._status, dict(self._body)

    def drain(self) -> None:
        """Not ready from now on, whatever loads later: the server is about to stop."""
        with self._lock:
            self._draining = True

    def _set(self, status: int, body: dict[str, object]) -> None:
        with self._lock:
            self._status, self._body = status, body
