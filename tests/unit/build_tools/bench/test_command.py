"""nox -s bench without an engine: its flags, its budgets, where it writes, and how it reads
`docker port`."""

from __future__ import annotations

import pytest
from ner_build.bench import builds, command, platformbench, runtime, throughput
from ner_build.bench.stats import README_END, README_START
from ner_build.build import options as build_options
from ner_build.engine.docker import published_address
from ner_build.errors import ToolError
from ner_build.paths import BENCHMARKS_README


def test_the_published_address_is_the_first_binding_docker_port_names() -> None:
    assert published_address("127.0.0.1:49153\n") == "http://127.0.0.1:49153"


def test_a_container_without_a_published_port_fails_saying_so() -> None:
    with pytest.raises(ToolError, match="publishes no such port"):
        published_address("")


def test_runs_and_build_flags_are_split_between_bench_and_the_build() -> None:
    args, rest = command.parser().parse_known_args(["--runs=2", "--model-mirror=http://m/"])
    assert args.runs == 2
    assert build_options.parse(rest, {}).model_mirror == "http://m/"


def test_runs_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        command.parser().parse_known_args(["--runs=0"])


def test_every_budget_is_on_a_figure_the_bench_measures() -> None:
    measured = {
        value
        for module in (builds, runtime, throughput)
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str)
    }
    assert {budget.figure for budget in command.BUDGETS} <= measured


def test_the_bench_and_the_platforms_write_into_blocks_the_benchmarks_readme_has() -> None:
    text = BENCHMARKS_README.read_text(encoding="utf-8")
    for start, end in ((README_START, README_END), platformbench.MARKERS):
        assert text.index(start) < text.index(end)
