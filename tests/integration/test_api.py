"""The JSON API and /metrics in the hardened container: entities with offsets and the baked
pipeline's wheel sha256 (the one the image is labelled with), refusals as JSON, a 100-text
request, and the metrics moving."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from typing import Any

import pytest
from ner_build.bench import load
from ner_build.result import BuildResult
from testcontainers.core.container import DockerContainer

from tests.integration.conftest import HARDENED, StartApp, url

SAMPLE = "Ada Lovelace worked with Charles Babbage in London in 1843."
TOKEN = secrets.token_urlsafe(16)
# Small enough that the socket buffers take the whole oversized body: the server answers 413
# without reading it, and a larger body would meet a closed connection while being sent.
MAX_BODY = 20_000


@pytest.fixture(scope="module")
def app(start_app: StartApp) -> DockerContainer:
    return start_app(env={"NER_API_TOKEN": TOKEN, "NER_MAX_BATCH_BYTES": str(MAX_BODY)}, **HARDENED)


def post(
    container: DockerContainer, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url(container, "/api/v1/entities"), data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def test_entities_come_with_offsets_and_the_baked_pipelines_sha256(
    app: DockerContainer, built: BuildResult
) -> None:
    status, body = post(app, json.dumps({"text": SAMPLE}).encode(), AUTH)
    assert status == 200, body
    assert [(e["text"], e["label"]) for e in body["entities"]] == [
        ("Ada Lovelace", "PERSON"),
        ("Charles Babbage", "PERSON"),
        ("London", "GPE"),
        ("1843", "DATE"),
    ]
    assert all(SAMPLE[e["start"] : e["end"]] == e["text"] for e in body["entities"])
    assert body["pipeline"]["sha256"] == built.model_sha256


def test_a_hundred_texts_in_one_request(app: DockerContainer) -> None:
    status, body = post(app, json.dumps({"texts": [SAMPLE] * 100}).encode(), AUTH)
    assert status == 200, body
    assert len(body["documents"]) == 100


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b'{"text": "x"}', {"Content-Type": "application/json"}, 401),
        (b'{"text": "x"}', {**AUTH, "Content-Type": "text/plain"}, 415),
        (b"{", AUTH, 400),
        (b'{"text": "\xff"}', AUTH, 400),
        (b'{"texts": ["x", 1]}', AUTH, 422),
        (b'{"texts": ["x"], "pad": "' + b"x" * (MAX_BODY + 1) + b'"}', AUTH, 413),
    ],
)
def test_refusals_are_json_never_500(
    app: DockerContainer, body: bytes, headers: dict[str, str], status: int
) -> None:
    got, answer = post(app, body, headers)
    assert got == status, answer
    assert answer["status"] == status
    assert answer["error"]


def test_metrics_count_the_requests(app: DockerContainer) -> None:
    with urllib.request.urlopen(url(app, "/metrics"), timeout=10) as response:
        text = response.read().decode()
    assert 'ner_api_requests_total{route="entities",status="200"}' in text
    assert "ner_pipeline_load_seconds " in text
    assert "ner_documents_total" in text


def test_a_short_load_at_4_connections_has_no_errors(app: DockerContainer) -> None:
    """The short version of the bench's load rows (nox -s bench measures them)."""
    body = json.dumps({"texts": [SAMPLE] * 5})
    result = load.run(url(app, "/api/v1/entities"), body, connections=4, seconds=3, token=TOKEN)
    assert result.requests > 0
    assert result.errors == 0
