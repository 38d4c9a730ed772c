"""The bench under load: the recommended memory limit, the monitor and the growth figures."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from ner_build.bench import loadbench
from ner_build.errors import CheckFailed, ToolError


def test_the_recommended_limit_is_the_compose_files() -> None:
    assert loadbench.recommended_memory() == "512M"


def test_a_compose_file_without_the_limit_is_refused_saying_where(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  app:\n    image: ner-app\n")
    with pytest.raises(CheckFailed, match=r"services\.app\.deploy\.resources\.limits\.memory"):
        loadbench.recommended_memory(compose)


def test_the_monitor_counts_failed_probes_and_keeps_the_peak() -> None:
    readings = iter([100.0, 180.0, 150.0])
    answers = iter([None, "HTTP 503"])
    monitor = loadbench.Monitor(
        lambda: next(answers, None), lambda: next(readings, 150.0), health_every_s=0.01
    )
    mark = monitor.mark()
    with monitor:
        while monitor.probes < 3 or len(monitor.samples) < 3:
            threading.Event().wait(0.01)  # polls the condition the loop tests
    assert monitor.failures == ["HTTP 503"]
    assert monitor.peak_since(mark) == 180.0


def test_growth_is_from_the_first_reading_at_or_after_the_mark() -> None:
    samples = [(0.0, 100.0), (1.0, 150.0), (2.0, 160.0), (3.0, 155.0)]
    assert loadbench.growth(samples, 0.0) == 55.0
    assert loadbench.growth(samples, 1.5) == -5.0


def test_growth_without_readings_says_so() -> None:
    with pytest.raises(ToolError, match="No memory was read"):
        loadbench.growth([(0.0, 100.0)], 5.0)


def test_every_budget_names_a_figure_the_bench_adds() -> None:
    names = {
        loadbench.API_ERRORS, loadbench.SESSIONS_FAILED, loadbench.SESSIONS_HEALTH,
        loadbench.SOAK_HEALTH, loadbench.SOAK_API_ERRORS, loadbench.SOAK_PAGES_FAILED,
    }  # fmt: skip
    assert {budget.figure for budget in loadbench.BUDGETS} == names
