"""`nox -s browser-loop`: the browser tests again and again, on every engine, with every core
kept busy: the proof that they do not flake.

Each round runs, as a pytest run of its own (a fresh app container, a fresh Chromium), every
engine's browser tests (tests/integration/test_browser.py, on the image `nox -s engines` built
there) and, on the default engine, the offline bundle's browser test (a fresh empty offline
engine; one bundle, made first, serves every round). Meanwhile `stress-ng --cpu N` keeps all N
cores busy (--no-stress: a quiet machine). A failure leaves its evidence under
build/failures/loop-ENGINE-ROUND/. The counts land in build/browser-loop.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ner_build import console, process
from ner_build.browser import evidence
from ner_build.engine import setups as engine_setups
from ner_build.errors import CheckFailed, FailedProcessError
from ner_build.paths import BUILD, ROOT
from ner_build.proofs.engines import record_of
from ner_build.release import bundle

BROWSER_TESTS = ["tests/integration/test_browser.py"]
BUNDLE_TEST = (  # on the default engine: the bundle loaded into an offline engine, in Chromium
    "tests/integration/test_bundle.py::"
    "test_the_good_bundle_loads_offline_runs_hardened_and_finds_entities"
)
WORK = BUILD / "browser-loop"
SUMMARY = BUILD / "browser-loop.json"
STRESS_HINT = "Install stress-ng (`tools/provision-debian stress`), or pass --no-stress."


@dataclass
class Tally:
    engine: str
    runs: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    failing_rounds: list[int] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.runs > 0 and self.runs == self.passed

    def add(self, junit: Path, round_: int) -> None:
        """A pytest run's outcomes, from its JUnit XML (failure: an assertion or a time-out in
        the test; error: in a fixture; a missing report counts as an error)."""
        verdicts = {"failure", "error", "skipped"}
        try:
            cases = list(ElementTree.parse(junit).getroot().iter("testcase"))  # noqa: S314
        except (OSError, ElementTree.ParseError):
            cases = []
        outcomes = [
            next((child.tag for child in case if child.tag in verdicts), "passed") for case in cases
        ] or ["error"]
        self.runs += len(outcomes)
        self.passed += outcomes.count("passed")
        self.failed += outcomes.count("failure")
        self.errors += len(outcomes) - outcomes.count("passed") - outcomes.count("failure")
        if outcomes.count("passed") != len(outcomes):
            self.failing_rounds.append(round_)


def tests_for(setup: engine_setups.EngineSetup) -> list[str]:
    return BROWSER_TESTS + ([BUNDLE_TEST] if setup.name == engine_setups.DEFAULT else [])


def one_round(setup: engine_setups.EngineSetup, round_: int, bundle_folder: Path) -> Path:
    """The engine's browser tests, once, on the image `nox -s engines` built there; the JUnit
    XML of the run."""
    record = record_of(setup)
    if not record.is_file():
        raise CheckFailed(f"No image of {setup.name} recorded at {record}: run `nox -s engines`.")
    junit = WORK / f"{setup.name}-{round_}.xml"
    env = evidence.labelled(
        {**setup.env, "NER_BUILD_RESULT": str(record), "NER_TEST_BUNDLE": str(bundle_folder)},
        f"loop-{setup.name}-{round_}",
    )
    pytest = [sys.executable, "-m", "pytest", *tests_for(setup), "-q", f"--junitxml={junit}"]
    with suppress(FailedProcessError):  # the counts say what failed, build/failures/ why
        process.stream(pytest, cwd=ROOT, env=env)
    return junit


def make_bundle(folder: Path) -> Path:
    """A signed bundle of the default engine's image (no sources), for the bundle test."""
    key = folder / "vendor-key"
    if not key.exists():
        folder.mkdir(parents=True, exist_ok=True)
        process.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "loop", "-f", key])
    argv = [f"--key={key}", f"--output={fresh_output(folder)}", "--force"]
    return bundle.make(bundle.parse(argv, dict(os.environ)))


def fresh_output(folder: Path) -> Path:
    """Where the bundle goes, with what an earlier loop left there removed (the loop's own
    folder: `nox -s bundle` refuses an --output that is not empty, rightly, for a user's)."""
    output = folder / "ner-app"
    shutil.rmtree(output, ignore_errors=True)
    shutil.rmtree(output.with_name("ner-app.partial"), ignore_errors=True)
    output.with_name("ner-app.tar").unlink(missing_ok=True)
    return output


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
    print(f"\n{'engine':<10} {'runs':>5} {'passed':>7} {'failed':>7} {'errors':>7}  rounds failing")
    for t in tallies:
        rounds = ", ".join(map(str, t.failing_rounds)) or "-"
        print(f"{t.engine:<10} {t.runs:>5} {t.passed:>7} {t.failed:>7} {t.errors:>7}  {rounds}")
    summary = {"count": count, "stress": stress, "engines": [asdict(t) for t in tallies]}
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    setups = engine_setups.find_engines(args.engines_dir, env)
    WORK.mkdir(parents=True, exist_ok=True)
    bundle_folder = make_bundle(WORK / "bundle")
    tallies = {setup.name: Tally(setup.name) for setup in setups}
    with busy_cores(args.stress):
        for round_ in range(1, args.count + 1):
            for setup in setups:
                console.step(f"round {round_} of {args.count}: the browser tests on {setup.name}")
                tallies[setup.name].add(one_round(setup, round_, bundle_folder), round_)
    report(list(tallies.values()), args.count, args.stress)
    return 0 if all(t.clean for t in tallies.values()) else 1


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nox -s browser-loop --", description=__doc__)
    parser.add_argument("--count", type=int, default=20, help="rounds (default 20)")
    parser.add_argument(
        "--no-stress", dest="stress", action="store_false", help="leave the cores idle"
    )
    parser.add_argument(
        "--engines-dir",
        type=Path,
        default=Path(env.get("NER_ENGINES_DIR") or engine_setups.ENGINES_DIR),
        help=f"where the engines' env files are (default {engine_setups.ENGINES_DIR})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(os.environ).parse_args(sys.argv[1:] if argv is None else argv)
    return console.run_main(lambda: run(args, os.environ))


if __name__ == "__main__":
    sys.exit(main())
