"""ner_build.ci.paths_check: every path a workflow step reads or writes exists when it runs."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from ner_build.ci import paths_check, workflow
from ner_build.ci.paths_check import Repository

REPO = Repository(
    files=frozenset({"README.md", "docker/Dockerfile", "security/accepted.toml"}),
    tops=frozenset({"docker", "security", "build"}),
)
CHECKOUT = {"uses": "actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd"}
TRIVY = "aquasecurity/trivy-action@ed142fd0673e97e23eac54620cfb913e5ce36c25"
# The ci.yml steps that make build/scan for Trivy; without them, the workflow as it was.
SCAN_FOLDER_STEP = re.compile(
    r"^ +- name: A folder for the scan reports.*\n +run: mkdir -p build/scan\n", re.M
)


def messages(*steps: dict[str, Any], repo: Repository = REPO) -> list[str]:
    document = {"on": "push", "jobs": {"job": {"runs-on": "ubuntu-latest", "steps": list(steps)}}}
    return [f.message for f in paths_check.check(document, repo)]


def test_the_workflows_read_and_write_only_paths_that_exist_then() -> None:
    repo = paths_check.repository()
    assert paths_check.check(workflow.load(workflow.CI), repo) == []


def test_control_the_workflow_without_its_scan_folder_step_is_caught_at_every_trivy_report() -> (
    None
):
    text = workflow.CI.read_text()
    old, removed = SCAN_FOLDER_STEP.subn("", text)
    assert removed == 2, "ci.yml should make build/scan in the scan and release jobs"
    found = paths_check.check(workflow.parse(old), paths_check.repository())
    assert [(f.job, f.message.split(",")[0]) for f in found] == [
        ("scan", "writes build/scan/trivy-image.json"),
        ("release", "writes build/scan/trivy-image-amd64.json"),
    ]
    assert "add `mkdir -p build/scan` before it" in found[0].message


def test_a_report_written_into_a_folder_nothing_made_is_reported_and_mkdir_mends_it() -> None:
    trivy = {"uses": TRIVY, "with": {"image-ref": "x", "output": "build/scan/report.json"}}
    assert messages(CHECKOUT, trivy) == [
        "writes build/scan/report.json, but nothing makes its folder build/scan before this step "
        "(it is not in the repository and the step does not create it): add `mkdir -p build/scan` "
        "before it"
    ]
    assert messages(CHECKOUT, {"run": "mkdir -p build/scan"}, trivy) == []
    assert (
        messages(CHECKOUT, {"run": "mkdir -p build/scan && trivy image x > build/scan/r.json"})
        == []
    )


def test_a_redirection_needs_its_folder_and_makes_its_file_for_later_steps() -> None:
    gate = {"run": "nox -s scan-gate -- build/report.json"}
    assert messages(CHECKOUT, {"run": "echo {} > build/report.json"}, gate) == [
        "writes build/report.json, but nothing makes its folder build before this step (it is not "
        "in the repository and the step does not create it): add `mkdir -p build` before it"
    ]
    assert (
        messages(CHECKOUT, {"run": "mkdir build"}, {"run": "echo {} >> build/report.json"}, gate)
        == []
    )


def test_a_session_output_read_before_the_session_runs_is_reported() -> None:
    read_record = {"run": 'echo "tag=$(jq -er \'.tags[0]\' build/image.json)" >> "$GITHUB_OUTPUT"'}
    assert messages(CHECKOUT, read_record) == [
        "reads build/image.json, which neither the repository holds nor an earlier step of this "
        "job makes"
    ]
    assert messages(CHECKOUT, {"run": "nox -s build -- --buildx-arg=--load"}, read_record) == []


def test_a_folder_of_the_build_is_not_every_folder_under_it() -> None:
    built = {"run": "nox -s build"}
    assert messages(CHECKOUT, built, {"run": "echo x > build/digest"}) == []
    assert messages(CHECKOUT, built, {"run": "echo x > build/scan/x.json"})[0].startswith(
        "writes build/scan/x.json, but nothing makes its folder build/scan"
    )


def test_repository_files_exist_only_after_the_checkout() -> None:
    lint = {"run": "hadolint docker/Dockerfile"}
    assert messages(lint) == [
        "reads docker/Dockerfile, which neither the repository holds nor an earlier step of this "
        "job makes (no actions/checkout before it)"
    ]
    assert messages(CHECKOUT, lint) == []
    assert messages(CHECKOUT, {"run": "hadolint docker/Missingfile"})[0].startswith(
        "reads docker/Missingfile"
    )


def test_a_downloaded_folder_admits_any_path_under_it_and_expressions_stand_for_names() -> None:
    download = {
        "uses": "actions/download-artifact@37930b1c",
        "with": {"pattern": "image-*", "path": "build/platforms"},
    }
    read = {"run": 'for dir in build/platforms/image-*; do cat "$dir/digest"; done'}
    attest = {
        "uses": "actions/attest-build-provenance@0f67c3f4",
        "with": {"subject-path": "build/platforms/x-${{ github.ref_name }}.tar"},
    }
    assert messages(download, read, attest) == []
    assert messages(read)[0].startswith("reads build/platforms/image-*,")


def test_an_output_argument_may_go_into_the_folder_its_own_session_makes() -> None:
    bundle = {"run": 'nox -s bundle -- --key k --output "build/bundle/ner-app-$GITHUB_REF_NAME"'}
    assert messages(CHECKOUT, bundle) == []
    other = {"run": 'nox -s lint -- --output "build/bundle/ner-app-$GITHUB_REF_NAME"'}
    assert messages(CHECKOUT, other)[0].startswith(
        "writes build/bundle/ner-app-*, but nothing makes its folder build/bundle"
    )


def test_paths_outside_the_workspace_and_session_names_are_not_paths() -> None:
    script = (
        'mkdir -p "$RUNNER_TEMP/e"\necho x > /tmp/out/x\nnox -s build -- --platform linux/amd64'
    )
    assert messages({"run": script}) == []


@pytest.mark.parametrize("line", ["# cat build/nothing.json", "  # echo > build/none/x"])
def test_comment_lines_are_not_read(line: str) -> None:
    assert messages({"run": line}) == []


def test_the_command_names_each_step_and_says_what_to_do(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ci.yml"
    steps = [CHECKOUT, {"name": "Report", "uses": TRIVY, "with": {"output": "build/scan/r.json"}}]
    path.write_text(
        yaml.safe_dump({"on": "push", "jobs": {"scan": {"runs-on": "x", "steps": steps}}})
    )
    assert paths_check.main([str(path)]) == 1
    error = capsys.readouterr().err
    assert "ci.yml: scan / step 2 (Report): writes build/scan/r.json" in error
    assert "1 step(s) read or write a path that does not exist then" in error
    assert paths_check.main([str(workflow.CI)]) == 0
    assert capsys.readouterr().out.startswith(
        "ok: every path the steps of ci.yml read or write exists"
    )
