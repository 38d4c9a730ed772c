"""Gate a vulnerability scan: fail on fixable CRITICAL findings unless accepted for now.

    python -m ner_build.release.scan REPORT.json [REPORT.json...]
        [--accepted security/accepted.toml]

REPORT is Trivy's JSON report (schema version 2, `trivy image --format json` or `trivy sbom
--format json`). A finding blocks when its severity is CRITICAL and Trivy names a fixed
version: a fix exists, so the pins must move. An entry in the accepted-risk file (id, package,
reason, expires) lets one through until its date; an expired entry stops counting and is
reported so that someone renews it or fixes the finding.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ner_build import console
from ner_build.errors import CheckFailed, VerificationFailed

BLOCKING = "CRITICAL"
ACCEPTED = Path("security/accepted.toml")
SCHEMA_VERSION = 2
NEXT_STEP = (
    "Fix it by moving the pin that brings the package in: merge (or re-run) the weekly Renovate "
    "pull request, or bump the base image's digest / BINUTILS_VERSION in docker/Dockerfile or "
    "the package in poetry.lock. If no fix can ship yet, add an entry with id, package, reason "
    f"and expires to {ACCEPTED}."
)


@dataclass(frozen=True)
class Finding:
    id: str
    package: str
    installed: str
    fixed: str
    severity: str
    target: str

    @property
    def fixable(self) -> bool:
        return bool(self.fixed)

    def describe(self) -> str:
        fixed = self.fixed or "no fix yet"
        return f"{self.id} {self.severity} in {self.package} {self.installed} (fixed in {fixed})"


@dataclass(frozen=True)
class Acceptance:
    id: str
    package: str
    reason: str
    expires: date

    def covers(self, finding: Finding) -> bool:
        return (self.id, self.package) == (finding.id, finding.package)


@dataclass(frozen=True)
class Verdict:
    blocking: list[Finding]
    accepted: list[tuple[Finding, Acceptance]]
    expired: list[Acceptance]
    counted: int

    @property
    def passed(self) -> bool:
        return not self.blocking


def read_report(path: Path) -> list[Finding]:
    """Every vulnerability in a Trivy JSON report; CheckFailed when it is not one."""
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckFailed(f"{path} is not a readable JSON report ({error}): {_RERUN}") from error
    if not isinstance(report, dict) or report.get("SchemaVersion") != SCHEMA_VERSION:
        raise CheckFailed(f"{path} is not a Trivy JSON report of schema version 2: {_RERUN}")
    try:
        return [
            _finding(item, str(result.get("Target", "")))
            for result in report.get("Results") or []
            for item in result.get("Vulnerabilities") or []
        ]
    except (KeyError, TypeError, AttributeError) as error:
        raise CheckFailed(f"{path}: a vulnerability lacks {error}: {_RERUN}") from error


_RERUN = "run Trivy again with `--format json --output FILE` and pass that file"


def _finding(item: dict[str, Any], target: str) -> Finding:
    return Finding(
        id=str(item["VulnerabilityID"]),
        package=str(item["PkgName"]),
        installed=str(item["InstalledVersion"]),
        fixed=str(item.get("FixedVersion") or ""),
        severity=str(item["Severity"]).upper(),
        target=target,
    )


def read_accepted(path: Path) -> list[Acceptance]:
    """The accepted-risk file's entries (none when it does not exist)."""
    if not path.exists():
        return []
    try:
        entries = tomllib.loads(path.read_text()).get("accepted", [])
        found = [Acceptance(**entry) for entry in entries]
    except (tomllib.TOMLDecodeError, TypeError) as error:
        raise CheckFailed(f"{path}: {error}. Each [[accepted]] needs {_FIELDS}.") from error
    bad = [entry.id for entry in found if not isinstance(entry.expires, date)]
    if bad:
        raise CheckFailed(f"{path}: expires must be a date (2026-12-31) in {bad}.")
    return found


_FIELDS = "id, package, reason and expires (a date), and nothing else"


def gate(findings: list[Finding], accepted: list[Acceptance], today: date) -> Verdict:
    """Which fixable CRITICAL findings block, which are accepted, which acceptances expired."""
    valid = [entry for entry in accepted if entry.expires >= today]
    expired = [entry for entry in accepted if entry.expires < today]
    counted = [f for f in findings if f.severity == BLOCKING and f.fixable]
    blocking, let_through = [], []
    for finding in dict.fromkeys(counted):  # one line per finding, even if two targets report it
        cover = next((entry for entry in valid if entry.covers(finding)), None)
        if cover is None:
            blocking.append(finding)
        else:
            let_through.append((finding, cover))
    return Verdict(blocking, let_through, expired, len(findings))


def summary(verdict: Verdict) -> str:
    """What the gate decided, finding by finding, and what to do next when it failed."""
    lines = [f"{verdict.counted} findings; {len(verdict.blocking)} fixable CRITICAL not accepted."]
    lines += [f"  BLOCKS: {finding.describe()}" for finding in verdict.blocking]
    lines += [
        f"  accepted until {entry.expires}: {finding.describe()} ({entry.reason})"
        for finding, entry in verdict.accepted
    ]
    lines += [
        f"  EXPIRED on {entry.expires}, no longer counts: {entry.id} in {entry.package}"
        for entry in verdict.expired
    ]
    if not verdict.passed:
        lines.append(NEXT_STEP)
    return "\n".join(lines)


def command(reports: list[Path], accepted: Path, today: date) -> int:
    findings = [finding for report in reports for finding in read_report(report)]
    verdict = gate(findings, read_accepted(accepted), today)
    text = summary(verdict)
    if not verdict.passed:
        raise VerificationFailed(text)
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ner_build.release.scan", description=__doc__)
    parser.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    parser.add_argument("--accepted", type=Path, default=ACCEPTED, help="[%(default)s]")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    today = datetime.now(UTC).date()
    return console.run_main(lambda: command(args.reports, args.accepted, today))


if __name__ == "__main__":
    sys.exit(main())
