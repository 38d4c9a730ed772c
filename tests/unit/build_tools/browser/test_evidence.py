"""What a failing test leaves: the end-of-run report and the browser log."""

from __future__ import annotations

from pathlib import Path

import pytest
from ner_build.browser import evidence


def test_the_report_names_each_folder_with_its_files_and_nothing_when_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evidence, "EVIDENCE", tmp_path / "failures")
    assert evidence.report() == []
    failing = tmp_path / "failures" / "integration" / "test-a"
    (failing / "containers").mkdir(parents=True)
    (failing / "trace.zip").write_bytes(b"PK")
    (failing / "containers" / "abc.log").write_text("log")
    lines = evidence.report()
    assert lines[0] == f"Evidence of what failed is kept in {tmp_path / 'failures'} (2 folder(s)):"
    assert f"  {failing}: containers, trace.zip" in lines
    assert f"  {failing / 'containers'}: abc.log" in lines
    evidence.clear()
    assert not (tmp_path / "failures").exists()


def test_a_browser_log_keeps_console_and_failed_requests_with_their_times(
    tmp_path: Path,
) -> None:
    log = evidence.BrowserLog(started=0.0)
    log.console.append("   1.000s error: boom")
    log.failed_requests.append("   2.000s net::ERR_NETWORK_CHANGED GET http://localhost:1/a.js")
    log.write(tmp_path)
    assert (tmp_path / "console.txt").read_text() == "   1.000s error: boom\n"
    assert "net::ERR_NETWORK_CHANGED" in (tmp_path / "failed-requests.txt").read_text()


def test_a_tests_folder_is_named_for_it_in_its_runs_folder() -> None:
    nodeid = "tests/integration/test_browser.py::test_x[a b/c]"
    folder = evidence.folder_of(nodeid, evidence.labelled({}, "engine-podman"))
    assert folder == evidence.EVIDENCE / "engine-podman" / "test_browser.py-test_x-a-b-c"
    assert evidence.folder_of(nodeid, {}).parent == evidence.EVIDENCE / "integration"
    assert evidence.folder_of(nodeid, {"NER_EVIDENCE": "/x/y"}).parent == Path("/x/y")
    assert len(evidence.folder_of("t.py::" + "x" * 500, {}).name) == evidence.MAX_NAME
