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


def test_page_modules_are_imported_only_after_the_pipeline_is_ready(
    test_pipeline_name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The module records what /readyz said while it was being imported.
    (tmp_path / "page_dependency_probe.py").write_text(
        "import builtins\nSTATUS_AT_IMPORT = builtins.readiness_under_test.report()[0]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NER_MODEL", test_pipeline_name)
    readiness = Readiness(page_modules=("page_dependency_probe",))
    monkeypatch.setattr("builtins.readiness_under_test", readiness, raising=False)
    readiness.load()
    assert sys.modules["page_dependency_probe"].STATUS_AT_IMPORT == 200


def test_page_modules_are_not_imported_when_the_pipeline_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NER_MODEL", "xx_not_installed_pipeline")
    Readiness(page_modules=("xx_module_that_does_not_exist",)).load()  # would raise if imported
