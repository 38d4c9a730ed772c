"""A throwaway local registry: Debian's docker-registry on 127.0.0.1, storage in a folder."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ner_build import process
from ner_build.errors import CheckFailed
from ner_build.probe import free_port, wait_until_answers

CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: 127.0.0.1:{port}
"""
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


@contextmanager
def local_registry(folder: Path, timeout: float = 30) -> Iterator[str]:
    """Run docker-registry until the block ends; yields its host:port."""
    binary = shutil.which("docker-registry")
    if not binary:
        raise CheckFailed("docker-registry is missing: `apt-get install docker-registry`.")
    port = free_port()
    config = folder / "registry.yml"
    config.write_text(CONFIG.format(root=folder / "storage", port=port))
    with (
        (folder / "registry.log").open("wb") as log,
        process.background([binary, "serve", config], log=log) as server,
    ):
        address = f"http://127.0.0.1:{port}/v2/"
        if not wait_until_answers(address, timeout, alive=lambda: server.poll() is None):
            raise CheckFailed(f"docker-registry did not answer on 127.0.0.1:{port}.")
        yield f"127.0.0.1:{port}"


def pushed_size(registry: str, repository: str, tag: str) -> int:
    """Bytes a pull transfers: the compressed layers plus the config, from the manifest."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        manifest = json.load(response)
    return int(manifest["config"]["size"]) + sum(int(layer["size"]) for layer in manifest["layers"])
