"""The README's figures are the bench's: written from its results, between their markers."""

from __future__ import annotations

from pathlib import Path

from ner_build.bench import builds, headline, runtime, throughput
from ner_build.bench.stats import Results, update_readme


def results() -> Results:
    measured = Results()
    measured.add(builds.IMAGE, "MB", [426.0], [896.0])
    measured.add(builds.PUSHED, "MB", [155.0], [312.0])
    measured.add(runtime.READY, "s", [1.21, 1.25, 1.3], [0.55, 0.56, 0.6])
    measured.add(builds.REBUILD_ALL, "s", [24.3])
    measured.add(builds.REBUILD, "s", [1.75], [0.24])
    measured.add(throughput.INSIDE, "docs/s", [127.0])
    measured.add(throughput.RATIO, "x", [1.25])
    return measured


def test_the_figures_are_the_medians_with_what_they_were_measured_on() -> None:
    text = headline.text(results(), "Measured at abc1234 on 2026-12-05.")
    assert text.startswith("Measured at abc1234 on 2026-12-05.\n")
    assert "426 MB uncompressed, 155 MB as pushed; 0.48x the classic recipe's 896 MB" in text
    assert "ready (pipeline loaded) in 1.25 s; the classic recipe's to health in 0.56 s" in text
    assert "`nox -s build` done in 24.30 s, its `docker build` step 1.75 s" in text
    assert "127 documents/s in the container, 1.25x" in text


def test_they_replace_the_readmes_block_and_nothing_else(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    start, end = headline.MARKERS
    readme.write_text(f"# x\n\n{start}\n- **Image**: 999 MB\n{end}\n- **Scale-out**: kept\n")
    update_readme(readme, headline.text(results(), "Measured."), markers=headline.MARKERS)
    written = readme.read_text()
    assert "999 MB" not in written
    assert "426 MB uncompressed" in written
    assert written.endswith(f"{end}\n- **Scale-out**: kept\n")
