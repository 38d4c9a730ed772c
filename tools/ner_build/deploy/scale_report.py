"""What `nox -s scale` reports: scale.json and scale.md, and with --record the table in
benchmarks/README.md between the scale markers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ner_build.bench.stats import update_readme
from ner_build.deploy.scenarios import REPLICAS, Figures, Outcome

MARKERS = ("<!-- scale:start -->", "<!-- scale:end -->")


def markdown(outcomes: Sequence[Outcome], commit: str) -> str:
    rows = [
        f"Measured by `nox -s scale` at {commit}: {REPLICAS} replicas of the built image\n"
        "behind HAProxy (deploy/compose.yaml), real Chromium sessions, one run.\n",
        "| scenario | sessions ok | per replica | figures | result |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        figures = outcome.figures
        ok = f"{figures.get('ok', '-')}/{figures.get('total', '-')}"
        served = ", ".join(f"{k} {v}" for k, v in sorted(figures.get("replicas", {}).items()))
        result = "as required" if outcome.passed else "FAILED: " + "; ".join(outcome.problems)
        rows.append(f"| {outcome.name} | {ok} | {served or '-'} | {brief(figures)} | {result} |")
    return "\n".join(rows) + "\n"


SECONDS = (("dropped_s", "dropped by the LB in"), ("recovered_s", "back in"),
           ("longest_5xx_s", "longest 5xx"), ("seconds", "took"))  # fmt: skip
SESSION_GROUPS = (("other_sessions", "sessions on the others"), ("new_sessions", "new"),
                  ("sessions_of_crashed_replica", "moved from the crashed one"))  # fmt: skip


def brief(figures: Figures) -> str:
    """The scenario's own figures, in a few words."""
    memory = figures.get("memory_mb", {})
    parts = ["memory " + ", ".join(f"{v:.0f}" for v in memory.values()) + " MB"] if memory else []
    errors = figures.get("errors") or {}
    parts += ["errors: " + "; ".join(f"{k} x{v}" for k, v in errors.items())] if errors else []
    parts += [f"{label} {figures[key]} s" for key, label in SECONDS if key in figures]
    parts += [
        f"{label} {figures[key]['ok']}/{figures[key]['total']} ok"
        for key, label in SESSION_GROUPS
        if key in figures
    ]
    if "waves" in figures:
        parts.append(f"{figures['waves']} waves of new sessions")
    return "; ".join(parts) or "-"


def write(outcomes: Sequence[Outcome], commit: str, folder: Path, readme: Path | None) -> None:
    """scale.json and scale.md in the folder, and the table into the readme when one is given."""
    data = {"commit": commit, "replicas": REPLICAS, "scenarios": [vars(o) for o in outcomes]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scale.json").write_text(json.dumps(data, indent=2) + "\n")
    table = markdown(outcomes, commit)
    (folder / "scale.md").write_text("# Scale-out results\n\n" + table)
    if readme:
        update_readme(readme, table, markers=MARKERS)
