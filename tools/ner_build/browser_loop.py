"""`nox -s browser-loop`: the browser tests again and again, on every engine, with every core
kept busy: the proof that they do not flake.

Each engine's browser tests (tests/integration/test_browser.py, on the image `nox -s engines`
built there) and, on the default engine, the offline bundle's browser test run --count times
(pytest-repeat; a fresh app container, or offline engine, for each round), while
`stress-ng --cpu N` keeps all N cores busy (--no-stress: a quiet machine). A failure leaves its
evidence under build/failures/loop-ENGINE/. The counts land in build/browser-loop.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from ner_build import console, engines, process
from ner_build.errors import CheckFailed, FailedProcessError
from ner_build.paths import BUILD, ROOT

BROWSER_TESTS = ["tests/integration/test_browser.py"]
BUNDLE_TEST = (  # on the default engine: the bundle loaded into an offline engine, in Chromium
    "tests/integration/test_bundle.py::"
    "test_the_good_bundle_loads_offline_runs_hardened_and_finds_entities"
)
SUMMARY = BUILD / "browser-loop.json"
STRESS_HINT = "Install stress-ng (Debian: `apt-get install stress-ng`), or pass --no-stress."


@dataclass(frozen=True)
class Tally:
    engine: str
    runs: int
    passed: int
    failed: int
    errors: int

    @property
    def clean(self) -> bool:
        return self.runs > 0 and self.runs == self.passed


def tally(engine: str, junit: Path) -> Tally:
    """Counts of a pytest run from its JUnit XML (failed: assertions; errors: fixtures)."""
    cases = ElementTree.parse(junit).getroot().iter("testcase")  # noqa: S314 (pytest's own)
    verdicts = {"failure", "error", "skipped"}
    outcomes = [
        next((child.tag for child in case if child.tag in verdicts), "passed") for case in cases
    ]
    return Tally(
        engine,
        runs=len(outcomes),
        passed=outcomes.count("passed"),
        failed=outcomes.count("failure"),
        errors=outcomes.count("error"),
    )


def tests_for(setup: engines.EngineSetup) -> list[str]:
    return BROWSER_TESTS + ([BUNDLE_TEST] if setup.name == "default" else [])


def run_on(setup: engines.EngineSetup, count: int) -> Tally:
    """The engine's browser tests, count rounds, on the image `nox -s engines` built there."""
    record = BUILD / "engines" / f"{setup.name}.json"
    if not record.is_file():
        raise CheckFailed(f"No image of {setup.name} recorded at {record}: run `nox -s engines`.")
    junit = BUILD / "browser-loop" / f"{setup.name}.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    console.step(f"{count} rounds of the browser tests on {setup.name}")
    env = {
        **setup.env,
        "NER_BUILD_RESULT": str(record),
        "NER_EVIDENCE_LABEL": f"loop-{setup.name}",
    }
    pytest = [sys.executable, "-m", "pytest", *tests_for(setup), f"--count={count}"]
    with suppress(FailedProcessError):  # the counts say what failed, build/failures/ why
        process.stream(
            [*pytest, "--repeat-scope=module", "-q", f"--junitxml={junit}"], cwd=ROOT, env=env
        )
    return tally(setup.name, junit)


@contextmanager
def busy_cores(stress: bool) -> Iterator[None]:
    """stress-ng keeping every core busy, or nothing."""
    if not stress:
        yield
        return
    cores = os.cpu_count() or 1
    console.step(f"stress-ng --cpu {cores}: every core busy while the tests run")
    with process.background(["stress-ng", "--cpu", str(cores)], missing=STRESS_HINT):
        yield


def report(tallies: Sequence[Tally], count: int, stress: bool) -> None:
    print(f"\n{'engine':<10} {'runs':>5} {'passed':>7} {'failed':>7} {'errors':>7}")
    for t in tallies:
        print(f"{t.engine:<10} {t.runs:>5} {t.passed:>7} {t.failed:>7} {t.errors:>7}")
    SUMMARY.write_text(
        json.dumps(
            {"count": count, "stress": stress, "engines": [asdict(t) for t in tallies]}, indent=2
        )
        + "\n"
    )


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    setups = engines.find_engines(args.engines_dir, env)
    with busy_cores(args.stress):
        tallies = [run_on(setup, args.count) for setup in setups]
    report(tallies, args.count, args.stress)
    return 0 if all(t.clean for t in tallies) else 1


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nox -s browser-loop --", description=__doc__)
    parser.add_argument("--count", type=int, default=20, help="rounds per engine (default 20)")
    parser.add_argument(
        "--no-stress", dest="stress", action="store_false", help="leave the cores idle"
    )
    parser.add_argument(
        "--engines-dir",
        type=Path,
        default=Path(env.get("NER_ENGINES_DIR") or engines.ENGINES_DIR),
        help=f"where the engines' env files are (default {engines.ENGINES_DIR})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(os.environ).parse_args(sys.argv[1:] if argv is None else argv)
    return console.run_main(lambda: run(args, os.environ))


if __name__ == "__main__":
    sys.exit(main())
