"""Figures for `nox -s bench`: summaries, budgets, the markdown table and the chart (no I/O
but files)."""

from __future__ import annotations

import html
import math
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


def fmt(value: float, whole: bool = False) -> str:
    """To 2 decimals, or none from 100 up or for a whole number (a count)."""
    return f"{value:,.0f}" if whole or abs(value) >= 100 else f"{value:.2f}"


def is_whole(summary: Summary) -> bool:
    """Whether every value of the summary is a whole number, as counts are."""
    return all(float(v).is_integer() for v in (summary.median, summary.min, summary.max))


def cell(summary: Summary | None) -> str:
    if summary is None:
        return "-"
    whole = is_whole(summary)
    if summary.runs == 1:
        return fmt(summary.median, whole)
    return f"{fmt(summary.median, whole)} ({fmt(summary.min, whole)}-{fmt(summary.max, whole)})"


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
        measured = fmt(figure.ours.median, is_whole(figure.ours))
        if budget.ratio is not None and figure.baseline is not None:
            measured += f" ({figure.ours.median / figure.baseline.median:.2f}x baseline)"
        verdict = "met" if budget.holds(figure) else "**missed**"
        lines.append(f"| {budget.text} | {measured} | {verdict} |")
    lines += ["", runs_note]
    return "\n".join(lines) + "\n"


# --- the chart ---------------------------------------------------------------------------

CHART_ALT = "ner-app ÷ baseline per figure, log scale: median bars, min-max whiskers, budgets"
LABEL_MAX = 36
WIDTH, ROW, TOP, LABEL_PX, VALUE_PX = 720, 26, 62, 6.6, 64
INK, BAR, BASE, BUDGET, GRID = "#24292f", "#0969da", "#8c959f", "#cf222e", "#d8dee4"
LEGEND = (
    (f'<rect x="0" y="-9" width="14" height="10" fill="{BAR}"/>', "ner-app median"),
    (f'<path d="M0 -4h14M0 -8v8M14 -8v8" stroke="{INK}"/>', "ner-app min-max"),
    (
        f'<rect x="0" y="-9" width="14" height="10" fill="{BASE}" opacity="0.4"/>',
        "baseline min-max",
    ),
    (f'<path d="M7 -10v12" stroke="{BASE}" stroke-dasharray="3 2"/>', "baseline = 1x"),
    (f'<path d="M7 -10v12" stroke="{BUDGET}" stroke-width="2"/>', "ratio budget"),
)


@dataclass(frozen=True)
class ChartRow:
    """One figure with a baseline, every value divided by the baseline's median."""

    label: str
    ratio: float  # ours' median
    low: float  # ours' min
    high: float  # ours' max
    base_low: float
    base_high: float
    budgets: tuple[float, ...] = ()  # ratio budgets on this figure

    def values(self) -> tuple[float, ...]:
        return (self.ratio, self.low, self.high, self.base_low, self.base_high, *self.budgets)


def short_label(name: str) -> str:
    """A chart label: "rebuild after an app-only edit: docker build" -> "rebuild: docker build"
    (the first word before a colon, and what follows it), cut to LABEL_MAX characters."""
    head, colon, tail = name.partition(": ")
    short = f"{head.split()[0]}: {tail}" if colon and head.strip() else name
    return short if len(short) <= LABEL_MAX else short[: LABEL_MAX - 1].rstrip() + "…"


def chart_rows(results: Results, budgets: Sequence[Budget]) -> list[ChartRow]:
    """The figures that have a baseline, as ratios to its median; a figure with a value that
    is not positive has no place on a log axis and stays in the table only."""
    rows = []
    for figure in results.figures:
        base = figure.baseline
        if base is None or min(base.min, figure.ours.min) <= 0:
            continue
        ours, per = figure.ours, base.median
        ratios = tuple(b.ratio for b in budgets if b.figure == figure.name and b.ratio)
        low, high, base_low, base_high = (v / per for v in (ours.min, ours.max, base.min, base.max))
        label = short_label(figure.name)
        rows.append(ChartRow(label, ours.median / per, low, high, base_low, base_high, ratios))
    return rows


@dataclass(frozen=True)
class Axis:
    """A log2 axis from 2**first to 2**last (whole powers, 0.5x to 2x at least) over pixels
    left..right."""

    first: int
    last: int
    left: float
    right: float

    @classmethod
    def over(cls, rows: Sequence[ChartRow], left: float, right: float) -> Axis:
        values = [value for row in rows for value in row.values()] + [1.0]
        first = min(-1, math.floor(math.log2(min(values))))
        last = max(1, math.ceil(math.log2(max(values))))
        return cls(first, last, left, right)

    def x(self, value: float) -> float:
        share = (math.log2(value) - self.first) / (self.last - self.first)
        return self.left + share * (self.right - self.left)

    def ticks(self) -> range:
        return range(self.first, self.last + 1, 1 + (self.last - self.first) // 9)


def chart(results: Results, budgets: Sequence[Budget]) -> str:
    """An SVG chart of ours ÷ the baseline for every figure that has one: the median as a bar
    from 1x, ours' min-max as a whisker, the baseline's own min-max as a grey band at 1x, and
    each ratio budget as a red tick. Deterministic: the same results give the same bytes.

    SVG rather than a Mermaid block: GitHub's Mermaid draws `xychart-beta` on a linear axis,
    with no legend, no error bars, series that need a value for every category and labels
    that cannot hold a `"`. A 13x figure (the rebuild, today) would squash all near 1x, min-max
    could not be shown, and a budget could only be a line across all figures. Here the axis
    is log2 (2x slower and 2x smaller lie as far from the baseline), and GitHub shows the file
    as an image in the README, on its own white ground in dark mode too."""
    rows = chart_rows(results, budgets)
    labels = max((len(row.label) for row in rows), default=0)
    axis = Axis.over(rows, 24 + labels * LABEL_PX, WIDTH - VALUE_PX)
    height = TOP + len(rows) * ROW + 34
    body = [
        *_legend(),
        *_grid(axis, len(rows)),
        *(_row(row, i, axis) for i, row in enumerate(rows)),
    ]
    if not rows:
        body.append(f'<text x="12" y="{TOP + 14}">No figure has a baseline.</text>')
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" '
        f'font-size="12" fill="{INK}">'
    )
    title = (
        '<text x="12" y="22" font-size="14" font-weight="bold">'
        "ner-app ÷ baseline (seed.Dockerfile), log scale: left of 1x is less</text>"
    )
    background = f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>'
    return "\n".join([svg, background, title, *body, "</svg>"]) + "\n"


def _legend() -> list[str]:
    items, x = [], 12.0
    for swatch, text in LEGEND:
        items.append(f'<g transform="translate({x:.1f} 44)">{swatch}<text x="20">{text}</text></g>')
        x += 34 + len(text) * LABEL_PX
    return items


def _grid(axis: Axis, rows: int) -> list[str]:
    bottom = TOP + rows * ROW
    lines = []
    for power in axis.ticks():
        x = axis.x(2.0**power)
        lines += [
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}" stroke="{GRID}"/>',
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{2.0**power:g}x</text>',
        ]
    one = axis.x(1.0)
    lines.append(
        f'<line class="baseline" x1="{one:.1f}" y1="{TOP - 4}" x2="{one:.1f}" y2="{bottom}" '
        f'stroke="{BASE}" stroke-dasharray="3 2"/>'
    )
    return lines


def _row(row: ChartRow, index: int, axis: Axis) -> str:
    mid = TOP + index * ROW + ROW / 2
    one, end = axis.x(1.0), axis.x(row.ratio)
    low, high = axis.x(row.low), axis.x(row.high)
    base_low, base_high = axis.x(row.base_low), axis.x(row.base_high)
    parts = [
        f'<text class="label" x="{axis.left - 10:.1f}" y="{mid + 4:.1f}" text-anchor="end">'
        f"{html.escape(row.label)}</text>",
        f'<rect class="bar" x="{min(one, end):.1f}" y="{mid - 6:.1f}" '
        f'width="{abs(end - one):.1f}" height="12" fill="{BAR}"/>',
        f'<text class="value" x="{WIDTH - 12}" y="{mid + 4:.1f}" text-anchor="end">'
        f"{row.ratio:.2f}x</text>",
        *(
            f'<line class="budget" x1="{axis.x(ratio):.1f}" y1="{mid - 10:.1f}" '
            f'x2="{axis.x(ratio):.1f}" y2="{mid + 10:.1f}" stroke="{BUDGET}" stroke-width="2"/>'
            for ratio in row.budgets
        ),
    ]
    if row.base_high > row.base_low:  # one run has no spread to show
        parts.insert(
            1,
            f'<rect class="spread" x="{base_low:.1f}" y="{mid - 8:.1f}" '
            f'width="{base_high - base_low:.1f}" height="16" fill="{BASE}" opacity="0.4"/>',
        )
    if row.high > row.low:
        parts.append(
            f'<path class="whisker" d="M{low:.1f} {mid:.1f}H{high:.1f}M{low:.1f} '
            f'{mid - 4:.1f}v8M{high:.1f} {mid - 4:.1f}v8" stroke="{INK}"/>'
        )
    return '<g class="figure">' + "".join(parts) + "</g>"


def readme_block(
    table: str, image: str | None = None, markers: tuple[str, str] = (README_START, README_END)
) -> str:
    """What stands between the markers: the chart at image (a path relative to the README), if
    any, above the table."""
    shown = f"![{CHART_ALT}]({image})\n\n" if image else ""
    return f"{markers[0]}\n{shown}{table}{markers[1]}"


def update_readme(
    readme: Path,
    table: str,
    image: str | None = None,
    markers: tuple[str, str] = (README_START, README_END),
) -> None:
    """Replace what stands between the markers (the bench's by default) in the README with the
    table, and the chart at image (relative to the README) if given."""
    text = readme.read_text()
    start, end = markers
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {start} … {end} block")
    block = readme_block(table, image, markers)
    readme.write_text(pattern.sub(lambda _: block, text))
