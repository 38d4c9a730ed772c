"""The JSON API through Starlette's test client, with the real test pipeline: every refusal is a
4xx with a JSON message (never a 500), and good requests get each text's entities."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from ner_app import api
from ner_app.readiness import Readiness

SAMPLE = "Ada Lovelace worked with Charles Babbage in London in 1843."
EXPECTED = [
    {"text": "Ada Lovelace", "label": "PERSON", "start": 0, "end": 12},
    {"text": "Charles Babbage", "label": "PERSON", "start": 25, "end": 40},
    {"text": "London", "label": "GPE", "start": 44, "end": 50},
    {"text": "1843", "label": "DATE", "start": 54, "end": 58},
]
URL = "/api/v1/entities"


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch, test_pipeline_name: str) -> Readiness:
    monkeypatch.setenv("NER_MODEL", test_pipeline_name)
    state = Readiness()
    state.load()
    assert state.report()[0] == 200
    return state


def client_for(state: Readiness, prefix: str = "") -> TestClient:
    return TestClient(Starlette(routes=api.routes(state, prefix)), raise_server_exceptions=False)


@pytest.fixture
def client(loaded: Readiness) -> Iterator[TestClient]:
    with client_for(loaded) as test_client:
        yield test_client


def test_one_text_gets_its_entities_with_offsets_and_the_pipeline(client: TestClient) -> None:
    response = client.post(URL, json={"text": SAMPLE})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["entities"] == EXPECTED
    assert body["pipeline"]["name"] == "en_ner_test"
    assert body["pipeline"]["version"] == "0.1.0"
    assert "sha256" in body["pipeline"]
    for entity in body["entities"]:
        assert SAMPLE[entity["start"] : entity["end"]] == entity["text"]


def test_a_hundred_texts_get_a_document_each(client: TestClient) -> None:
    texts = [f"{SAMPLE} Number {n}." for n in range(100)]
    response = client.post(URL, json={"texts": texts})
    assert response.status_code == 200, response.text
    documents = response.json()["documents"]
    assert len(documents) == 100
    assert all(document["entities"] == EXPECTED for document in documents)


def refused(response: object, status: int, words: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert words in body["error"]
    assert "Traceback" not in body["error"]


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b'{"text": ', {"content-type": "application/json"}, 400, "not valid JSON"),
        (b'{"text": "caf\xe9"}', {"content-type": "application/json"}, 400, "not valid UTF-8"),
        (b'{"text": "x"}', {"content-type": "text/plain"}, 415, "application/json"),
        (b'{"text": "x"}', {}, 415, "no content type"),
        (b'{"text": "x"}', {"content-type": "application/json; charset=latin-1"}, 415, "UTF-8"),
        (b'["x"]', {"content-type": "application/json"}, 422, "one key, text or texts"),
        (b'{"text": "x", "texts": []}', {"content-type": "application/json"}, 422, "one key"),
        (b'{"texts": []}', {"content-type": "application/json"}, 422, "non-empty list"),
        (b'{"texts": ["a", 3]}', {"content-type": "application/json"}, 422, "texts[1] is a int"),
        (b'{"text": "   "}', {"content-type": "application/json"}, 422, "Enter some text"),
    ],
)
def test_bad_requests_are_refused_with_a_json_message(
    client: TestClient, content: bytes, headers: dict[str, str], status: int, words: str
) -> None:
    refused(client.post(URL, content=content, headers=headers), status, words)


def test_limits_follow_the_settings(loaded: Readiness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NER_MAX_CHARS", "10")
    monkeypatch.setenv("NER_MAX_BATCH_DOCS", "3")
    monkeypatch.setenv("NER_MAX_BATCH_BYTES", "200")
    with client_for(loaded) as client:
        refused(client.post(URL, json={"text": "x" * 11}), 422, "the limit is 10")
        refused(client.post(URL, json={"texts": ["a"] * 4}), 422, "NER_MAX_BATCH_DOCS")
        refused(client.post(URL, json={"texts": ["a" * 9] * 30}), 413, "NER_MAX_BATCH_BYTES")
        assert client.post(URL, json={"texts": ["Ada"] * 3}).status_code == 200  # the control


def test_a_body_without_a_length_is_cut_off_at_the_limit(
    loaded: Readiness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NER_MAX_BATCH_BYTES", "100")

    def chunks() -> Iterator[bytes]:
        yield b'{"texts": ['
        for _ in range(1000):
            yield b'"aaaaaaaaaa",'

    with client_for(loaded) as client:
        response = client.post(URL, content=chunks(), headers={"content-type": "application/json"})
    refused(response, 413, "larger than 100 bytes")


def test_a_token_when_set_is_required(loaded: Readiness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NER_API_TOKEN", "s3cret")
    with client_for(loaded) as client:
        refused(client.post(URL, json={"text": SAMPLE}), 401, "Authorization: Bearer")
        wrong = {"authorization": "Bearer nope"}
        refused(client.post(URL, json={"text": SAMPLE}, headers=wrong), 401, "NER_API_TOKEN")
        right = {"authorization": "Bearer s3cret"}
        assert client.post(URL, json={"text": SAMPLE}, headers=right).status_code == 200
    response = client_for(loaded).post(URL, json={"text": SAMPLE})
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_before_the_pipeline_loads_the_api_says_retry() -> None:
    with client_for(Readiness()) as client:
        response = client.post(URL, json={"text": SAMPLE})
    refused(response, 503, "not ready")
    assert response.headers["retry-after"] == "2"


def test_the_api_is_also_under_the_base_url_path(loaded: Readiness) -> None:
    with client_for(loaded, "/ner") as client:
        assert client.post("/ner" + URL, json={"text": SAMPLE}).status_code == 200
        assert client.get("/ner/api/v1/openapi.json").status_code == 200


def test_openapi_describes_the_route_and_every_refusal(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    responses = document["paths"]["/api/v1/entities"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "413", "415", "422", "503"}


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_metrics_count_requests_documents_and_the_load_time(loaded: Readiness) -> None:
    from ner_app import metrics

    ok = {"route": "entities", "status": "200"}
    before = (sample("ner_api_requests_total", ok), sample("ner_documents_total"))
    app = Starlette(routes=[*api.routes(loaded), *metrics.routes()])
    with TestClient(app) as client:
        client.post(URL, json={"texts": [SAMPLE, SAMPLE, SAMPLE]})
        client.post(URL, content=b"{", headers={"content-type": "application/json"})
        text = client.get("/metrics").text
    assert sample("ner_api_requests_total", ok) == before[0] + 1
    assert sample("ner_documents_total") == before[1] + 3
    assert sample("ner_api_requests_total", {"route": "entities", "status": "400"}) >= 1
    assert sample("ner_pipeline_load_seconds") > 0
    assert "ner_api_request_seconds_bucket" in text
