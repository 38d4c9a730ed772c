import http.server
import threading
from collections.abc import Iterator

import pytest

from ner_app.healthcheck import main, probe


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/_stcore/health" else 503)
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
