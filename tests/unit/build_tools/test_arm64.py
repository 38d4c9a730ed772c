"""nox -s arm64's own parts: the base it builds on and the summary it writes."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from ner_build import arm64
from ner_build.docker import Docker

from .support import EVERY_OPTION


def test_a_given_base_image_is_used_as_it_is() -> None:
    docker = Docker.from_string("/nonexistent/docker")  # never asked: the base is given
    options = replace(EVERY_OPTION, base_image="my-base:arm64")
    assert arm64.arm64_base(docker, options, {}) == "my-base:arm64"


def test_the_summary_records_each_steps_seconds(tmp_path: Path) -> None:
    summary = arm64.Summary(base_image="ner-app-base:bookworm-python3-arm64")
    summary.timed("two clean builds", time.monotonic() - 2.0)
    summary.reproducible = True
    summary.write(tmp_path / "summary.json")
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["platform"] == "linux/arm64"
    assert written["reproducible"] is True
    assert 2.0 <= written["seconds"]["two clean builds"] < 60


def test_other_flags_go_to_the_build() -> None:
    args, build_argv = arm64.parser().parse_known_args(["--compare", "--image=x", "--no-tests"])
    assert (args.compare, args.no_tests, build_argv) == (True, True, ["--image=x"])
