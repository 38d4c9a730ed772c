"""The bench's short form: it names what it failed to measure, and writes its table with the
verdicts of the budgets it can judge, without asserting them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ner_build.bench import builds, command, quick, runtime
from ner_build.bench.stats import Results


def full() -> Results:
    results = Results()
    results.add(builds.REBUILD, "s", [1.8], [0.3])
    results.add(quick.REBUILD_TOOL, "s", [22.0])
    results.add(builds.IMAGE, "MB", [426.0], [896.0])
    results.add(runtime.READY, "s", [1.2], [0.6])
    return results


def test_a_figure_not_measured_is_named() -> None:
    results = full()
    assert quick.missing(results) == []
    results.figures = [f for f in results.figures if f.name != runtime.READY]
    assert quick.missing(results) == [runtime.READY]


def test_the_table_judges_only_the_budgets_of_measured_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quick, "QUICK_OUT", tmp_path)
    table = quick.write(full(), command.BUDGETS, "abc1234")
    assert "image ≤ 0.5x the baseline" in table  # 426 of 896 MB: judged
    assert "throughput" not in table  # not measured in the short form: not judged
    assert "not the recorded figures" in table
    assert (tmp_path / "quick.md").read_text() == table
    names = [f["name"] for f in json.loads((tmp_path / "quick.json").read_text())["figures"]]
    assert names == [f.name for f in full().figures]


def test_the_seed_context_pins_pip_from_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed recipe upgrades pip first, to poetry.lock's pip, by hash."""
    tree = tmp_path / "tree"
    (tree / "build" / "image").mkdir(parents=True)
    (tree / "build" / "image" / "requirements.txt").write_text("spacy==3.8.18\n")
    (tree / "src").mkdir()
    (tree / "poetry.lock").write_text(
        (Path(__file__).resolve().parents[4] / "poetry.lock").read_text()
    )
    wheel = tmp_path / "model-1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    monkeypatch.setattr(builds, "WORK", tmp_path / "work")
    context = builds.seed_context(tree, wheel)
    pip = (context / "pip-requirements.txt").read_text()
    assert pip.startswith("pip==")
    assert "--hash=sha256:" in pip
