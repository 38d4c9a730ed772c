"""Figures for `nox -s bench`: summaries, budgets and the markdown table (no I/O but files)."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass(frozen=True)
class Summary:
    median: float
    min: float
    max: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("a figure needs at least one measurement")
        return cls(statistics.median(values), min(values), max(values), len(values))


@dataclass(frozen=True)
class Figure:
    """One measured quantity, for our image and (where it applies) the baseline."""

    name: str
    unit: str
    ours: Summary
    baseline: Summary | None = None


@dataclass(frozen=True)
class Budget:
    """A target: ours at most/least `limit` (absolute), or `ratio` times the baseline."""

    figure: str
    text: str
    at_most: bool = True
    limit: float | None = None
    ratio: float | None = None

    def holds(self, figure: Figure) -> bool:
        target = self.target(figure)
        return figure.ours.median <= target if self.at_most else figure.ours.median >= target

    def target(self, figure: Figure) -> float:
        if self.ratio is not None:
            if figure.baseline is None:
                raise ValueError(f"budget {self.text!r} needs a baseline for {figure.name}")
            return self.ratio * figure.baseline.median
        if self.limit is None:
            raise ValueError(f"budget {self.text!r} has neither a limit nor a ratio")
        return self.limit


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)

    def add(
        self, name: str, unit: str, ours: Sequence[float], baseline: Sequence[float] = ()
    ) -> None:
        summary = Summary.of(baseline) if baseline else None
        self.figures.append(Figure(name, unit, Summary.of(ours), summary))

    def get(self, name: str) -> Figure:
        return next(figure for figure in self.figures if figure.name == name)


def fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def cell(summary: Summary | None) -> str:
    if summary is None:
        return "-"
    if summary.runs == 1:
        return fmt(summary.median)
    return f"{fmt(summary.median)} ({fmt(summary.min)}-{fmt(summary.max)})"


def markdown(results: Results, budgets: Sequence[Budget], runs_note: str) -> str:
    """The table the README shows: medians with (min-max), and each budget's verdict."""
    lines = [
        "| measure | ner-app | baseline (seed.Dockerfile) |",
        "|---|---:|---:|",
        *(
            f"| {f.name} ({f.unit}) | {cell(f.ours)} | {cell(f.baseline)} |"
            for f in results.figures
        ),
        "",
        "| budget | measured | verdict |",
        "|---|---:|---|",
    ]
    for budget in budgets:
        figure = results.get(budget.figure)
        measured = fmt(figure.ours.median)
        if budget.ratio is not None and figure.baseline is not None:
            measured += f" ({figure.ours.median / figure.baseline.median:.2f}x baseline)"
        verdict = "met" if budget.holds(figure) else "**missed**"
        lines.append(f"| {budget.text} | {measured} | {verdict} |")
    lines += ["", runs_note]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, table: str) -> None:
    """Replace what stands between the bench markers in the README with the table."""
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {README_START} … {README_END} block")
    readme.write_text(pattern.sub(f"{README_START}\n{table}{README_END}", text))
