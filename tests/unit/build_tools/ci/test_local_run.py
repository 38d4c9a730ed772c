"""ner_build.ci.local_run (`nox -s workflow`): what it gives act, and how it reads act's log.

The run itself (act executing the jobs) is `nox -s workflow`, run by hand: it needs the actions'
repositories, which a fresh clone does not have.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from ner_build.ci import local_run, workflow
from ner_build.ci.local_run import Pin
from ner_build.errors import CheckFailed

CHECKOUT_PIN = Pin("actions/checkout", "de0fac2e4500dabe0009e67214ff5f5447ce83dd")


def test_the_jobs_pins_are_the_workflows_actions_by_repository_and_commit() -> None:
    found = local_run.pins(workflow.load(workflow.CI), ["lint", "scan"])
    assert CHECKOUT_PIN in found
    assert Pin("github/codeql-action", "8aad20d150bbac5944a9f9d289da16a4b0d87c1e") in found
    assert Pin("actions/setup-node", "6044e13b5dc448c55e2357c09f80417699197238") in found
    assert all(len(pin.sha) == 40 for pin in found)
    tests_only = local_run.pins(workflow.load(workflow.CI), ["tests"])
    assert {pin.repository for pin in tests_only} == {"actions/checkout", "actions/setup-python"}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def snapshot(tmp_path: Path) -> tuple[Path, str]:
    """A folder of snapshots holding one repository, actions+checkout (a bare git directory, as
    `fetch` leaves it), with one commit."""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", cwd=work)
    (work / "action.yml").write_text("runs:\n  using: node24\n  main: dist/index.js\n")
    git("add", ".", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one", cwd=work)
    bare = tmp_path / "actions" / "actions+checkout" / "repo"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    return tmp_path / "actions", git("rev-parse", "HEAD", cwd=work).strip()


def test_an_action_is_extracted_at_its_pin_from_the_snapshot(
    snapshot: tuple[Path, str], tmp_path: Path
) -> None:
    actions, sha = snapshot
    target = local_run.extract(actions, Pin("actions/checkout", sha), tmp_path / "out")
    assert target.name == f"actions+checkout@{sha}"
    assert (target / "action.yml").read_text().startswith("runs:")


def test_a_pin_the_snapshot_lacks_stops_the_run_and_says_what_to_fetch(
    snapshot: tuple[Path, str], tmp_path: Path
) -> None:
    actions, _ = snapshot
    missing = r"actions/checkout@de0fac2e\S* is not in \S*: bring a snapshot of github:"
    with pytest.raises(CheckFailed, match=missing):
        local_run.extract(actions, CHECKOUT_PIN, tmp_path / "out")
    with pytest.raises(CheckFailed, match="github:actions/setup-node"):
        local_run.extract(actions, Pin("actions/setup-node", CHECKOUT_PIN.sha), tmp_path / "out")


def test_the_tool_cache_holds_this_hosts_python_as_setup_python_looks_for_it(
    tmp_path: Path,
) -> None:
    version = local_run.cache_python(tmp_path, "3.11")
    assert version.startswith("3.11.")
    x64 = tmp_path / "Python" / version / "x64"
    assert (tmp_path / "Python" / version / "x64.complete").exists()
    ran = subprocess.run([x64 / "bin" / "python", "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert ran.stdout.strip() == "(3, 11)"
    with pytest.raises(CheckFailed, match=r"asks for Python 2\.1; install python2\.1"):
        local_run.cache_python(tmp_path, "2.1")


def test_act_is_bound_to_the_loopback_with_no_cache_server_and_the_local_actions(
    tmp_path: Path,
) -> None:
    command = local_run.act_command("act", "push", "lint", tmp_path, [CHECKOUT_PIN])
    assert command[command.index("--artifact-server-addr") + 1] == "127.0.0.1"
    assert "--no-cache-server" in command
    assert "--action-offline-mode" in command
    assert command[command.index("-P") + 1] == "ubuntu-latest=-self-hosted"
    local = command[command.index("--local-repository") + 1]
    assert local.startswith(f"actions/checkout@{CHECKOUT_PIN.sha}=")
    assert local.endswith(CHECKOUT_PIN.folder)


def test_events_are_a_push_to_main_and_a_pull_request_into_main() -> None:
    push = local_run.event_payload("push", "a" * 40)
    assert push["ref"] == "refs/heads/main"
    assert push["after"] == "a" * 40
    pull = local_run.event_payload("pull_request", "b" * 40)
    assert pull["pull_request"]["base"]["ref"] == "main"
    assert pull["pull_request"]["head"]["sha"] == "b" * 40


def test_step_results_are_read_from_acts_json_log_and_other_lines_ignored() -> None:
    lines = [
        json.dumps({"level": "info", "msg": "Start server on http://127.0.0.1:34567"}),
        json.dumps(
            {"job": "ci/lint", "stage": "Main", "step": "nox -s lint", "stepResult": "success"}
        ),
        "not json",
        json.dumps({"job": "ci/lint", "stage": "Main", "step": "setup", "stepResult": "failure"}),
    ]
    found = list(local_run.step_results("push", lines))
    assert [(r.job, r.step, r.result) for r in found] == [
        ("ci/lint", "Main nox -s lint", "success"),
        ("ci/lint", "Main setup", "failure"),
    ]
    assert "push          ci/lint    failure  Main setup" in local_run.table(found)


def test_options_need_the_actions_folder_and_refuse_unknown_events(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        local_run.parse([], {})
    assert "give --actions DIR (or NER_ACTIONS_DIR)" in capsys.readouterr().err
    options = local_run.parse([], {"NER_ACTIONS_DIR": "/snapshots"})
    assert (options.events, options.jobs) == (["push", "pull_request"], ["lint", "tests"])
    with pytest.raises(SystemExit):
        local_run.parse(["--actions", "x", "--event", "schedule"], {})


def test_act_runs_told_not_to_ask_its_server_for_notices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """act 0.2.89 asks api.nektosact.com on every run unless ACT_DISABLE_VERSION_CHECK=1: the
    job's act gets it. A script in act's place records the environment it was started with."""
    monkeypatch.setattr(local_run, "WORK", tmp_path)
    seen = tmp_path / "environment"
    act = tmp_path / "act"
    act.write_text(f'#!/bin/sh\nenv > {seen}\necho \'{{"stepResult": "failure"}}\'\nexit 3\n')
    act.chmod(0o755)
    run = local_run.run_job(str(act), "push", "lint", tmp_path, [])
    assert "ACT_DISABLE_VERSION_CHECK=1" in seen.read_text().splitlines()
    assert not run.passed
    assert [step.result for step in run.steps] == ["failure"]
