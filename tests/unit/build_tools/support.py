"""Helpers for the build tooling tests: tools, paths, a local HTTP server, temporary git repos."""

from __future__ import annotations

import functools
import os
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ner_build import bootstrap
from ner_build.build import options as build_options

ROOT = Path(__file__).resolve().parents[3]
# The tools the tests drive, as the sessions are given them: never a fixed path.
POETRY = bootstrap.poetry()
DOCKER = os.environ.get("DOCKER") or "docker"
# Every build option set to a value other than its default: what must survive a round trip.
EVERY_OPTION = build_options.BuildOptions(
    docker="/opt/tools/docker -H unix:///x.sock",
    base_image="ner-app-base:bookworm-python3",
    model_wheel=Path("/wheels/en_x-1.0-py3-none-any.whl"),
    model_mirror="http://mirror.example/models/",
    ca_bundle=Path("/etc/ssl/ca.pem"),
    image="other-app",
    poetry="/opt/tools/poetry",
    buildx_args=["--cache-from=type=local,src=/cache", "--progress=plain"],
    dockerfile=Path("/src/docker/Dockerfile"),
    allow_fallbacks=True,
    result=Path("/work/build/trained.json"),
    offline=Path("/bundle/sources"),
    platform="linux/arm64",
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class FileServer:
    """A real HTTP server on 127.0.0.1 serving one directory, in a thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


def git(repo: Path, *args: str, epoch: int | None = None) -> str:
    """Run git in repo, committing as a fixed identity at a fixed time when epoch is given."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    if epoch is not None:
        env |= {"GIT_AUTHOR_DATE": f"@{epoch} +0000", "GIT_COMMITTER_DATE": f"@{epoch} +0000"}
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def commit(repo: Path, files: dict[str, str], epoch: int, message: str = "change") -> str:
    """Write files, commit them at epoch and return the new HEAD SHA."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "--", *files)
    git(repo, "commit", "-q", "-m", message, epoch=epoch)
    return git(repo, "rev-parse", "HEAD")


def with_raw_mode(layer: bytes, name: str, mode: int) -> bytes:
    """The layer with the tar header of `name` carrying this mode verbatim, file-type bits
    included, as buildah writes it (Python's tarfile writes only the permission bits)."""
    data = bytearray(layer)
    for offset in range(0, len(data), 512):
        if data[offset : offset + 100].rstrip(b"\0").rstrip(b"/") == name.encode():
            header = data[offset : offset + 512]
            header[100:108] = b"%07o\0" % mode
            header[148:156] = b" " * 8
            header[148:156] = b"%06o\0 " % sum(header)
            data[offset : offset + 512] = header
            return bytes(data)
    raise ValueError(f"{name} is not in the layer")
