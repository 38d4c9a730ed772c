from pathlib import Path

import pytest
from ner_build.benchstats import Budget, Results, Summary, markdown, update_readme


def results() -> Results:
    found = Results()
    found.add("image size, uncompressed", "MB", [568.0], [1100.0])
    found.add("docker run -> ready", "s", [1.2, 0.9, 3.0])
    return found


def test_a_summary_is_the_median_with_min_and_max() -> None:
    assert Summary.of([3.0, 1.0, 2.0, 10.0]) == Summary(2.5, 1.0, 10.0, 4)
    with pytest.raises(ValueError, match="at least one"):
        Summary.of([])


def test_a_ratio_budget_compares_with_the_baseline_median() -> None:
    size = results().get("image size, uncompressed")
    assert Budget(size.name, "<= 0.6x", ratio=0.6).holds(size)  # 568 <= 660
    assert not Budget(size.name, "<= 0.5x", ratio=0.5).holds(size)  # 568 > 550


def test_a_limit_budget_uses_the_median_and_can_be_a_floor() -> None:
    ready = results().get("docker run -> ready")
    assert Budget(ready.name, "<= 2 s", limit=2).holds(ready)  # median 1.2
    assert not Budget(ready.name, ">= 2 s", at_most=False, limit=2).holds(ready)


def test_a_ratio_budget_without_a_baseline_is_an_error() -> None:
    ready = results().get("docker run -> ready")
    with pytest.raises(ValueError, match="needs a baseline"):
        Budget(ready.name, "x", ratio=0.5).holds(ready)


def test_the_table_shows_medians_ranges_and_verdicts() -> None:
    budgets = [
        Budget("image size, uncompressed", "image <= 0.6x the baseline", ratio=0.6),
        Budget("docker run -> ready", "ready <= 1 s", limit=1),
    ]
    table = markdown(results(), budgets, "note")
    assert "| image size, uncompressed (MB) | 568 | 1,100 |" in table
    assert "| docker run -> ready (s) | 1.20 (0.90-3.00) | - |" in table
    assert "| image <= 0.6x the baseline | 568 (0.52x baseline) | met |" in table
    assert "| ready <= 1 s | 1.20 | **missed** |" in table
    assert table.endswith("note\n")


def test_the_readme_block_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- bench:start -->\nold\n<!-- bench:end -->\nafter\n")
    update_readme(readme, "| new |\n")
    assert (
        readme.read_text() == "before\n<!-- bench:start -->\n| new |\n<!-- bench:end -->\nafter\n"
    )


def test_a_readme_without_the_block_is_an_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="bench:start"):
        update_readme(readme, "x")
