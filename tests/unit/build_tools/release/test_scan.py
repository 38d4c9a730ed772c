"""The scan gate on a recorded Trivy JSON report (schema 2): Trivy cannot run here, its
vulnerability database comes from the internet."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from ner_build.errors import CheckFailed
from ner_build.release import scan

REPORT = Path(__file__).parents[1] / "data" / "trivy-image.json"
TODAY = date(2026, 11, 28)
FIXABLE_CRITICAL = ("CVE-2026-40123", "libexpat1")


def recorded() -> dict[str, Any]:
    report: dict[str, Any] = json.loads(REPORT.read_text())
    return report


def without(report: dict[str, Any], vulnerability_id: str) -> dict[str, Any]:
    for result in report["Results"]:
        result["Vulnerabilities"] = [
            v for v in result.get("Vulnerabilities", []) if v["VulnerabilityID"] != vulnerability_id
        ]
    return report


def write(tmp_path: Path, report: dict[str, Any], name: str = "report.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(report))
    return path


def accepted_file(tmp_path: Path, expires: str) -> Path:
    path = tmp_path / "accepted.toml"
    path.write_text(
        "[[accepted]]\n"
        f'id = "{FIXABLE_CRITICAL[0]}"\npackage = "{FIXABLE_CRITICAL[1]}"\n'
        f'reason = "parser not reachable from the app"\nexpires = {expires}\n'
    )
    return path


def test_every_vulnerability_of_the_recorded_report_is_read() -> None:
    findings = scan.read_report(REPORT)
    assert [(f.id, f.package, f.fixed) for f in findings] == [
        ("CVE-2026-40123", "libexpat1", "2.5.0-1+deb12u2"),
        ("CVE-2026-38811", "zlib1g", ""),
        ("CVE-2026-31002", "libssl3", "3.0.17-1~deb12u3"),
        ("GHSA-7xq9-4c2m-9f3v", "pillow", ""),
    ]


def test_a_fixable_critical_fails_and_is_named_with_what_to_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = scan.main([str(REPORT), "--accepted", "/nonexistent/accepted.toml"])
    error = capsys.readouterr().err
    assert code == 1
    assert "BLOCKS: CVE-2026-40123 CRITICAL in libexpat1 2.5.0-1+deb12u1" in error
    assert "(fixed in 2.5.0-1+deb12u2)" in error
    assert "Renovate" in error
    assert "accepted.toml" in error
    assert "zlib1g" not in error
    assert "libssl3" not in error


def test_unfixed_criticals_and_fixable_highs_pass(tmp_path: Path) -> None:
    """The same report without its one fixable CRITICAL (the control above fails)."""
    report = write(tmp_path, without(recorded(), FIXABLE_CRITICAL[0]))
    verdict = scan.gate(scan.read_report(report), [], TODAY)
    assert verdict.passed
    assert verdict.counted == 3  # zlib1g and pillow CRITICAL unfixed, libssl3 HIGH fixable


def test_an_accepted_finding_passes_until_its_date(tmp_path: Path) -> None:
    accepted = scan.read_accepted(accepted_file(tmp_path, "2026-11-28"))
    verdict = scan.gate(scan.read_report(REPORT), accepted, TODAY)
    assert verdict.passed
    assert [finding.id for finding, _ in verdict.accepted] == [FIXABLE_CRITICAL[0]]
    assert "accepted until 2026-11-28" in scan.summary(verdict)


def test_an_expired_acceptance_stops_counting_and_is_reported(tmp_path: Path) -> None:
    accepted = scan.read_accepted(accepted_file(tmp_path, "2026-11-27"))
    verdict = scan.gate(scan.read_report(REPORT), accepted, TODAY)
    assert not verdict.passed
    assert [finding.id for finding in verdict.blocking] == [FIXABLE_CRITICAL[0]]
    assert "EXPIRED on 2026-11-27, no longer counts: CVE-2026-40123 in libexpat1" in (
        scan.summary(verdict)
    )


def test_an_acceptance_for_another_package_does_not_cover_the_finding(tmp_path: Path) -> None:
    path = accepted_file(tmp_path, "2027-01-01")
    path.write_text(path.read_text().replace('"libexpat1"', '"libexpat1-dev"'))
    verdict = scan.gate(scan.read_report(REPORT), scan.read_accepted(path), TODAY)
    assert not verdict.passed


def test_the_same_finding_in_the_image_and_the_sbom_report_is_named_once(tmp_path: Path) -> None:
    second = write(tmp_path, recorded(), "sbom-report.json")
    findings = scan.read_report(REPORT) + scan.read_report(second)
    assert len(scan.gate(findings, [], TODAY).blocking) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not a readable JSON report"),
        ('{"SchemaVersion": 1, "Results": []}', "schema version 2"),
        ("[]", "schema version 2"),
        ('{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"PkgName": "x"}]}]}', "lacks"),
    ],
)
def test_a_malformed_report_gives_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "report.json"
    path.write_text(text)
    assert scan.main([str(path)]) == 1
    error = capsys.readouterr().err
    assert message in error
    assert "--format json" in error
    assert "Traceback" not in error


def test_an_accepted_entry_without_a_date_is_refused(tmp_path: Path) -> None:
    path = accepted_file(tmp_path, '"soon"')
    with pytest.raises(CheckFailed, match="expires must be a date"):
        scan.read_accepted(path)


def test_the_committed_accepted_risk_file_is_readable() -> None:
    assert scan.read_accepted(Path(__file__).parents[3] / scan.ACCEPTED) == []
