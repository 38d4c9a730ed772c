import pytest

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
