"""The per-platform bench table: one column per platform, emulated ones labelled as such."""

from __future__ import annotations

from ner_build.bench import platformbench
from ner_build.bench.stats import Summary
from ner_build.engine.platforms import Platform


def test_each_platform_is_a_column_and_the_emulated_one_says_so() -> None:
    native = str(Platform.native())
    other = "linux/arm64" if native == "linux/amd64" else "linux/amd64"
    figures = {
        platformbench.SIZE: {native: Summary.of([411.0]), other: Summary.of([381.0])},
        platformbench.PUSHED: {native: Summary.of([120.0]), other: Summary.of([110.0])},
        platformbench.READY: {native: Summary.of([2.5, 3.1, 4.2]), other: Summary.of([9.4])},
    }
    lines = platformbench.markdown(figures, "the note").splitlines()
    assert lines[0] == f"| measure | {native} | {other} (emulated: QEMU on {native}) |"
    assert lines[2] == "| image size, uncompressed (MB) | 411 | 381 |"
    assert lines[4] == "| docker run → ready (s) | 3.10 (2.50-4.20) | 9.40 |"
    assert lines[-1] == "the note"
