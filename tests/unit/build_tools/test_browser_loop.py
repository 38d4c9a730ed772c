"""nox -s browser-loop's counting, from pytest's JUnit XML."""

from __future__ import annotations

from pathlib import Path

from ner_build import browser_loop, engines

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="t" name="a[1-2]" time="1.0"/>
<testcase classname="t" name="a[2-2]" time="1.0"><failure message="x">boom</failure></testcase>
<testcase classname="t" name="b[1-2]" time="1.0"><error message="y">setup</error></testcase>
<testcase classname="t" name="b[2-2]" time="1.0"><system-out>ok</system-out></testcase>
</testsuite></testsuites>
"""


def test_a_tally_counts_passes_failures_and_errors(tmp_path: Path) -> None:
    junit = tmp_path / "default.xml"
    junit.write_text(JUNIT)
    counted = browser_loop.tally("default", junit)
    assert (counted.runs, counted.failed, counted.errors) == (4, 1, 1)
    assert not counted.clean


def test_system_output_is_not_an_outcome_and_no_runs_is_not_clean(tmp_path: Path) -> None:
    junit = tmp_path / "x.xml"
    junit.write_text(
        JUNIT.replace("<failure", "<system-err")
        .replace("</failure>", "</system-err>")
        .replace('<error message="y">setup</error>', "")
    )
    assert browser_loop.tally("x", junit).clean
    assert not browser_loop.Tally("x", 0, 0, 0, 0).clean


def test_the_bundle_test_runs_on_the_default_engine_only() -> None:
    default = engines.EngineSetup("default", {"DOCKER": "docker"})
    podman = engines.EngineSetup("podman", {"DOCKER": "podman"})
    assert browser_loop.BUNDLE_TEST in browser_loop.tests_for(default)
    assert browser_loop.tests_for(podman) == browser_loop.BROWSER_TESTS
