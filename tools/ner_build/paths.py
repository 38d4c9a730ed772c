"""Where things are: the checkout's files the tools read, and what they write under build/."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "poetry.lock"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
MODEL_PIN = ROOT / "docker" / "model.toml"
BENCHMARKS = ROOT / "benchmarks"  # committed measurements: the bench's, the platforms', scale's
BENCHMARKS_README = BENCHMARKS / "README.md"  # their tables, between markers

BUILD = ROOT / "build"
CONTEXT = BUILD / "image"  # what the Dockerfile reads; .dockerignore admits only this
RESULT = BUILD / "image.json"  # tags and ID of the last build, read by integration and publish
PUBLISH_RESULT = BUILD / "publish.json"
SBOM = BUILD / "sbom.cdx.json"  # CycloneDX SBOM of the last build
BASE_RECORDS = BUILD / "base-image"  # nox -s base-image's Debian archive records, by tag
CACHE = BUILD / "cache"  # downloaded model wheels, kept by sha256
CANONICAL_LAYERS = CACHE / "canonical-layers"  # image.layer_store: earlier builds' layers
POETRY_MEMO = CACHE / "poetry.json"  # build.lockfile: Poetry's answers for this lock and pyproject
TEST_PIPELINE = BUILD / "test-pipeline"  # the small spaCy pipeline the tests (and fallbacks) use
