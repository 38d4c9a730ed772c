import http.server
import threading
from collections.abc import Iterator

import pytest

from ner_app.healthcheck import base_path, main, probe


class Handler(http.server.BaseHTTPRequestHandler):
    prefix = ""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == f"{self.prefix}/_stcore/health" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_healthy_when_the_endpoint_answers_200(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMLIT_SERVER_PORT", str(port))
    assert probe()
    assert main([]) == 0


def test_unhealthy_on_another_status(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMLIT_SERVER_PORT", str(port))
    assert main(["/readyz"]) == 1


def test_unhealthy_when_nothing_listens(port: int) -> None:
    assert not probe(port=1, timeout=0.5)


@pytest.mark.parametrize(
    ("configured", "prefix"),
    [("", ""), ("ner", "/ner"), ("/ner/", "/ner"), (" a/b ", "/a/b")],
)
def test_base_path_follows_streamlits_setting(configured: str, prefix: str) -> None:
    assert base_path({"STREAMLIT_SERVER_BASE_URL_PATH": configured}) == prefix


def test_liveness_moves_under_the_base_path(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMLIT_SERVER_PORT", str(port))
    monkeypatch.setenv("STREAMLIT_SERVER_BASE_URL_PATH", "ner")
    assert main([]) == 1  # the handler serves /_stcore/health only at the root
    Handler.prefix = "/ner"
    try:
        assert main([]) == 0
    finally:
        Handler.prefix = ""
