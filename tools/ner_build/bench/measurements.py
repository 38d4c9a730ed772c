"""What the bench measures an image by, shared by `nox -s bench` and its per-platform form:
its size in the engine and as pushed, and the time from `docker run` to ready, polled every
10 ms (the wait is what is measured)."""

from __future__ import annotations

import time

from ner_build.engine.docker import Docker
from ner_build.engine.registry import pushed_size
from ner_build.errors import ToolError
from ner_build.paths import BENCHMARKS, BUILD
from ner_build.probe import wait_until_answers

WORK = BUILD / "bench"
OUT = BENCHMARKS
MB = 1e6


def image_size_mb(docker: Docker, ref: str) -> float:
    """The image's uncompressed size as the engine reports it."""
    size = docker.run("image", "inspect", "--format", "{{.Size}}", ref, check=True).stdout
    return int(size.strip()) / MB


def pushed_mb(docker: Docker, registry: str, ref: str, name: str) -> float:
    """What a pull of the image transfers: pushed to the registry as name:bench, then read."""
    target = f"{registry}/{name}:bench"
    docker.run("tag", ref, target, check=True)
    docker.push(target)
    docker.untag(target)
    return pushed_size(registry, name, "bench") / MB


def wait_for(address: str, timeout: float = 60) -> None:
    """Wait for address to answer 200, probing every 10 ms: the wait is what bench measures."""
    if not wait_until_answers(address, timeout, poll=0.01):
        raise ToolError(
            f"{address} did not answer 200 within {timeout} s; see the container's logs."
        )


def time_to_ready(docker: Docker, image: str, timeout: float = 60, path: str = "/readyz") -> float:
    """Seconds from `docker run` to path answering 200 (ready, or another image's health)."""
    started = time.monotonic()
    with docker.published(image) as (_, address):
        wait_for(address + path, timeout)
        return time.monotonic() - started
