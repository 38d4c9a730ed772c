"""nox -s browser-loop's counting, from pytest's JUnit XML."""

from __future__ import annotations

from pathlib import Path

from ner_build.engine import setups as engine_setups
from ner_build.proofs import browser_loop

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="t" name="a" time="1.0"/>
<testcase classname="t" name="b" time="1.0"><failure message="x">boom</failure></testcase>
<testcase classname="t" name="c" time="1.0"><error message="y">setup</error></testcase>
<testcase classname="t" name="d" time="1.0"><system-out>ok</system-out></testcase>
</testsuite></testsuites>
"""


def test_a_tally_counts_passes_failures_and_errors_and_names_the_round(tmp_path: Path) -> None:
    junit = tmp_path / "default-3.xml"
    junit.write_text(JUNIT)
    tally = browser_loop.Tally("default")
    tally.add(junit, 3)
    assert (tally.runs, tally.passed, tally.failed, tally.errors) == (4, 2, 1, 1)
    assert tally.failing_rounds == [3]
    assert not tally.clean


def test_clean_rounds_add_up_and_a_missing_report_is_an_error(tmp_path: Path) -> None:
    junit = tmp_path / "ok.xml"
    junit.write_text(JUNIT.replace('<failure message="x">boom</failure>', "").replace(
        '<error message="y">setup</error>', "<system-err>noise</system-err>"))  # fmt: skip
    tally = browser_loop.Tally("podman")
    tally.add(junit, 1)
    tally.add(junit, 2)
    assert (tally.runs, tally.passed, tally.clean) == (8, 8, True)
    tally.add(tmp_path / "never-written.xml", 3)
    assert (tally.errors, tally.failing_rounds, tally.clean) == (1, [3], False)
    assert not browser_loop.Tally("none").clean


def test_the_bundle_test_runs_on_the_default_engine_only() -> None:
    default = engine_setups.EngineSetup("default", {"DOCKER": "docker"})
    podman = engine_setups.EngineSetup("podman", {"DOCKER": "podman"})
    assert browser_loop.BUNDLE_TEST in browser_loop.tests_for(default)
    assert browser_loop.tests_for(podman) == browser_loop.BROWSER_TESTS


def test_a_second_loop_replaces_the_first_loops_bundle_and_keeps_its_key(tmp_path: Path) -> None:
    (tmp_path / "ner-app").mkdir()
    (tmp_path / "ner-app" / "image.tar").write_text("from the first loop")
    (tmp_path / "ner-app.partial").mkdir()
    (tmp_path / "ner-app.tar").write_text("from the first loop")
    (tmp_path / "vendor-key").write_text("key")
    output = browser_loop.fresh_output(tmp_path)
    assert output == tmp_path / "ner-app"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vendor-key"]
