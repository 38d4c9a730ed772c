import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ner_build.bench.stats import (
    LABEL_MAX,
    Budget,
    Results,
    Summary,
    chart,
    fmt,
    markdown,
    short_label,
    update_readme,
)

SVG = "{http://www.w3.org/2000/svg}"


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


def part(row: ET.Element, kind: str) -> ET.Element:
    found = row.find(f"*[@class='{kind}']")
    assert found is not None, f"no {kind} in the row"
    return found


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (the chart under test, not untrusted input)


def figures(svg: str) -> dict[str, ET.Element]:
    """Each chart row by its label, from the parsed SVG (which must be well-formed XML)."""
    rows = parse(svg).iter(f"{SVG}g")
    return {
        "".join(part(row, "label").itertext()): row for row in rows if row.get("class") == "figure"
    }


def bar_ends(row: ET.Element) -> tuple[float, float]:
    bar = part(row, "bar")
    left = float(bar.get("x", "nan"))
    return left, left + float(bar.get("width", "nan"))


def baseline_x(svg: str) -> float:
    line = next(e for e in parse(svg).iter() if e.get("class") == "baseline")
    return float(line.get("x1", "nan"))


def test_the_chart_shows_each_figure_with_a_baseline_as_its_ratio_to_the_baseline() -> None:
    found = results()
    found.add("cold build", "s", [30.0, 28.0, 32.0], [20.0, 19.0, 21.0])
    rows = figures(chart(found, []))
    assert list(rows) == ["image size, uncompressed", "cold build"]  # "ready" has no baseline
    assert part(rows["image size, uncompressed"], "value").text == "0.52x"  # 568 / 1100
    assert part(rows["cold build"], "value").text == "1.50x"  # 30 / 20
    assert "ready" not in chart(found, [])


def test_a_ratio_below_one_is_a_bar_left_of_the_baseline_and_above_one_right_of_it() -> None:
    found = Results()
    found.add("half", "s", [1.0], [2.0])
    found.add("double", "s", [4.0], [2.0])
    svg = chart(found, [])
    rows, one = figures(svg), baseline_x(svg)
    half, double = bar_ends(rows["half"]), bar_ends(rows["double"])
    assert half[1] == pytest.approx(one)
    assert double[0] == pytest.approx(one)
    # a log axis: 0.5x and 2x lie as far from 1x
    assert one - half[0] == pytest.approx(double[1] - one, abs=0.2)
    assert one - half[0] > 10


def test_the_chart_shows_min_and_max_of_several_runs_around_the_median() -> None:
    found = Results()
    found.add("cold build", "s", [30.0, 28.0, 36.0], [20.0, 19.0, 21.0])
    row = figures(chart(found, []))["cold build"]
    whisker = re.match(r"M([\d.]+) [\d.]+H([\d.]+)", part(row, "whisker").get("d", ""))
    assert whisker is not None
    low, high = float(whisker[1]), float(whisker[2])
    assert low < bar_ends(row)[1] < high  # 28/20 < 30/20 < 36/20
    spread = part(row, "spread")  # the baseline's 19-21, around 1x
    assert float(spread.get("x", "nan")) < baseline_x(chart(found, []))
    one_run = figures(chart(results(), []))["image size, uncompressed"]
    assert one_run.find("*[@class='whisker']") is None


def test_a_ratio_budget_is_marked_on_its_own_figure_and_a_limit_is_not() -> None:
    budgets = [
        Budget("image size, uncompressed", "image <= 0.6x the baseline", ratio=0.6),
        Budget("image size, uncompressed", "image <= 600 MB", limit=600),
    ]
    found = results()
    found.add("cold build", "s", [30.0], [20.0])
    svg = chart(found, budgets)
    rows = figures(svg)
    marks = rows["image size, uncompressed"].findall("*[@class='budget']")
    assert len(marks) == 1
    assert rows["cold build"].find("*[@class='budget']") is None
    left, right = bar_ends(rows["image size, uncompressed"])  # from 0.52x to 1x
    assert left < float(marks[0].get("x1", "nan")) < right  # 0.6x


def test_a_label_the_format_cannot_take_is_escaped() -> None:
    found = Results()
    found.add('p<50 & "warm"', "s", [1.0], [2.0])
    svg = chart(found, [])
    assert "p&lt;50 &amp; &quot;warm&quot;" in svg
    assert list(figures(svg)) == ['p<50 & "warm"']  # parses back to the name


def test_a_long_name_gets_a_short_label() -> None:
    assert short_label("rebuild after an app-only edit: docker build") == "rebuild: docker build"
    assert short_label("cold build") == "cold build"
    long = short_label("memory after twenty requests through the page, in the container")
    assert len(long) == LABEL_MAX
    assert long.endswith("…")


def test_a_chart_without_baselines_says_so() -> None:
    found = Results()
    found.add("docker run -> ready", "s", [1.0])
    svg = chart(found, [])
    assert figures(svg) == {}
    assert "No figure has a baseline." in svg


def test_the_readme_block_holds_the_chart_and_the_table_and_updates_to_the_same_text(
    tmp_path: Path,
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- bench:start -->\nold\n<!-- bench:end -->\nafter\n")
    update_readme(readme, "| new \\1 |\n", "benchmarks/chart.svg")
    once = readme.read_text()
    update_readme(readme, "| new \\1 |\n", "benchmarks/chart.svg")
    assert readme.read_text() == once
    start, chart_line, blank, table, end = once.split("\n")[1:6]
    assert (start, blank, table, end) == (
        "<!-- bench:start -->",
        "",
        "| new \\1 |",
        "<!-- bench:end -->",
    )
    assert chart_line.startswith("![")
    assert chart_line.endswith("](benchmarks/chart.svg)")
    assert once.startswith("before\n")
    assert once.endswith("<!-- bench:end -->\nafter\n")


def test_counts_show_as_whole_numbers_and_measures_to_two_decimals() -> None:
    counts = Results()
    counts.add("API errors", "errors", [0.0, 0.0, 2.0])
    counts.add("seconds", "s", [0.9, 1.2, 3.0])
    table = markdown(counts, [], "note")
    assert "| API errors (errors) | 0 (0-2) |" in table
    assert "| seconds (s) | 1.20 (0.90-3.00) |" in table
    assert (fmt(4737.0), fmt(155.4), fmt(0.123)) == ("4,737", "155", "0.12")
