import os
import subprocess
import sys
from pathlib import Path

import pytest

import ner_app
from ner_app.readiness import Readiness


def test_not_ready_before_loading() -> None:
    assert Readiness().report() == (503, {"status": "loading"})


def test_ready_once_the_pipeline_loaded(
    test_pipeline_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NER_MODEL", test_pipeline_name)
    readiness = Readiness()
    readiness.load()
    status, body = readiness.report()
    assert (status, body["status"]) == (200, "ready")
    assert body["pipeline"]["name"] == "en_ner_test"  # type: ignore[index]


def test_failed_load_is_not_ready_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NER_MODEL", "xx_not_installed_pipeline")
    readiness = Readiness()
    readiness.load()
    status, body = readiness.report()
    assert (status, body["status"]) == (503, "failed")
    assert "is not installed" in str(body["error"])


def test_draining_outlasts_a_late_load(
    test_pipeline_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NER_MODEL", test_pipeline_name)
    state = Readiness()
    state.drain()
    state.load()
    assert state.report() == (503, Readiness.DRAINING)


def test_importing_readiness_leaves_spacy_to_the_preload_thread() -> None:
    # The server imports this module before it binds; spaCy's import (~1 s) must not delay
    # liveness, so only Readiness.load may import it.
    probe = (
        "import sys, ner_app.readiness; print('spacy' in sys.modules, 'streamlit' in sys.modules)"
    )
    # The same ner_app as this test imported (the environment may have another installed).
    env = {**os.environ, "PYTHONPATH": str(Path(ner_app.__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.split() == ["False", "False"]
