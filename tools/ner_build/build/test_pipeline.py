"""A small real spaCy pipeline package (blank English + entity ruler), built offline.

The tests and the CI image use it in place of en_core_web_sm, which needs a download.
`python -m ner_build.build.test_pipeline OUTDIR` writes the wheel and prints its path.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import spacy

from ner_build import console, process
from ner_build.paths import TEST_PIPELINE

NAME = "ner_test"
VERSION = "0.1.0"
PACKAGE = f"en_{NAME}"
WHEEL = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
# Zip entries get this time, so the same inputs give a byte-identical wheel.
WHEEL_EPOCH = "315532800"

PATTERNS: dict[str, tuple[str, ...]] = {
    "PERSON": ("Ada Lovelace", "Charles Babbage", "Alan Turing", "Grace Hopper", "Marie Curie"),
    "ORG": ("Acme Corp", "University of Manchester", "United Nations", "Analytical Engine"),
    "GPE": ("London", "Paris", "Berlin", "New York", "Boston"),
    "DATE": ("1843", "Monday", "June"),
}


def make_pipeline() -> spacy.language.Language:
    """Blank English with an entity ruler that knows the PATTERNS."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(  # type: ignore[attr-defined]
        [{"label": label, "pattern": text} for label, texts in PATTERNS.items() for text in texts]
    )
    nlp.meta.update(
        name=NAME,
        version=VERSION,
        description="Test pipeline for ner-app: an entity ruler, no statistical model.",
        author="ner-app",
        email="",
        url="",
        license="MIT",
    )
    return nlp


def build_wheel(out_dir: Path) -> Path:
    """Package the pipeline as a wheel in out_dir and return the wheel's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, package_dir = Path(tmp, "model"), Path(tmp, "package")
        make_pipeline().to_disk(model_dir)
        package_dir.mkdir()
        _run(sys.executable, "-m", "spacy", "package", model_dir, package_dir, "--build", "none")
        source = package_dir / f"{PACKAGE}-{VERSION}"
        _run(
            sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out_dir, source
        )
    return out_dir / WHEEL


def _run(*args: str | Path) -> None:
    process.run(args, env={"SOURCE_DATE_EPOCH": WHEEL_EPOCH})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s test-pipeline --", description=__doc__)
    parser.add_argument("out_dir", nargs="?", type=Path, default=TEST_PIPELINE)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return console.run_main(lambda: print(build_wheel(args.out_dir)))


if __name__ == "__main__":
    sys.exit(main())
