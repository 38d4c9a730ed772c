"""NER throughput over the bench's corpus (benchmarks/corpus.txt): in our image, in the seed
image and on the host with the same pipeline; and the corpus texts the page measurements
submit, each with its first entity."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ner_build import console, process
from ner_build.bench.builds import Images
from ner_build.bench.measurements import OUT
from ner_build.bench.stats import Results
from ner_build.engine.docker import Docker

CORPUS = OUT / "corpus.txt"
INSIDE = "NER throughput in the container"
HOST = "NER throughput on the host, same pipeline"
RATIO = "NER throughput, container ÷ host"
THROUGHPUT = """
import json, sys, time, spacy
nlp = spacy.load(sys.argv[1])
source = sys.stdin if sys.argv[2] == "-" else open(sys.argv[2], encoding="utf-8")
docs = source.read().splitlines()
list(nlp.pipe(docs))  # a full pass first: the vocabulary fills, code and data get warm
rates = []
for _ in range(int(sys.argv[3])):
    started = time.perf_counter()
    list(nlp.pipe(docs))
    rates.append(len(docs) / (time.perf_counter() - started))
print(json.dumps(rates))
"""


def install_on_host(wheel: Path) -> None:
    """The model wheel in this Python, for the host's throughput and the texts' entities."""
    console.step(f"bench: installing {wheel.name} on the host")
    process.run([sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python",
                 sys.executable, "--no-deps", "--reinstall", wheel])  # fmt: skip


def throughput_inside(docker: Docker, image: str, package: str, runs: int) -> list[float]:
    """Documents per second of runs passes over the corpus in a container of image."""
    # The corpus goes in on stdin, not as a bind mount: the engine may not see this host's
    # files (a remote DOCKER_HOST, a VM, a daemon in a mount namespace of its own).
    rates: list[float] = json.loads(docker.run(
        "run", "--rm", "--interactive", "--network=none", "--entrypoint=python3",
        image, "-c", THROUGHPUT, package, "-", str(runs),
        input_text=CORPUS.read_text(encoding="utf-8"), check=True,
    ).stdout)  # fmt: skip
    return rates


def measure_throughput(docker: Docker, images: Images, runs: int, results: Results) -> None:
    """Throughput in both images and on the host, and ours as a ratio to the host's."""
    package = images.ours.model
    console.step(f"bench: NER throughput in our image, {runs} passes over the corpus")
    inside = throughput_inside(docker, images.ours.image_id, package, runs)
    console.step(f"bench: NER throughput in the seed image, {runs} passes over the corpus")
    seed = throughput_inside(docker, f"{images.seed}:latest", package, runs)
    console.step(f"bench: NER throughput on the host, {runs} passes over the corpus")
    host = json.loads(
        process.output([sys.executable, "-c", THROUGHPUT, package, CORPUS, str(runs)])
    )
    results.add(INSIDE, "docs/s", inside, seed)
    results.add(HOST, "docs/s", host)
    ratio = [a / b for a, b in zip(sorted(inside), sorted(host), strict=True)]
    results.add(RATIO, "ratio", ratio)


def first_entities(package: str, count: int) -> list[tuple[str, str]]:
    """Corpus texts with entities, each with its first entity, as the host pipeline sees them."""
    import spacy

    console.step(f"bench: {count} corpus texts with entities, found by the host's pipeline")
    nlp = spacy.load(package)
    pairs = []
    for text in CORPUS.read_text(encoding="utf-8").splitlines():
        doc = nlp(text)
        if doc.ents:
            pairs.append((text, doc.ents[0].text))
        if len(pairs) == count:
            break
    return pairs
