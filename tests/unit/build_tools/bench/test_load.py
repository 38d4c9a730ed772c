"""ner_build.bench.load drives the real wrk against a real local HTTP server."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ner_build.bench import load
from ner_build.errors import CheckFailed


class Echo(BaseHTTPRequestHandler):
    """200 for a JSON POST with the body wrk was given, 400 otherwise."""

    protocol_version = "HTTP/1.1"
    expected = b""
    authorization = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        good = (
            self.headers["Content-Type"] == "application/json"
            and body == self.expected
            and self.headers.get("Authorization", "") == self.authorization
        )
        self.send_response(200 if good else 400)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/api/v1/entities"


@pytest.mark.host
def test_wrk_posts_the_body_and_reports_no_errors(server: ThreadingHTTPServer) -> None:
    body = '{"text": "Ada \\"Lovelace\\" in London\\n"}'
    token = secrets.token_urlsafe(8)
    Echo.expected, Echo.authorization = body.encode(), f"Bearer {token}"
    result = load.run(url(server), body, connections=4, seconds=1, token=token)
    assert result.requests > 10
    assert result.errors == 0
    assert 0 < result.p50_ms <= result.p99_ms
    assert result.throughput > 10


@pytest.mark.host
def test_refused_requests_count_as_errors(server: ThreadingHTTPServer) -> None:
    """The control: a body the server does not expect gets 400s, which wrk counts."""
    Echo.expected, Echo.authorization = b"something else", ""
    result = load.run(url(server), '{"text": "x"}', connections=1, seconds=1)
    assert result.errors == result.requests > 0


def test_no_result_line_is_a_clear_error() -> None:
    with pytest.raises(CheckFailed, match="no result line"):
        load.parse("Running 1s test\n", 1)
