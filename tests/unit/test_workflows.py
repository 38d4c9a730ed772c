"""The GitHub Actions workflows: nox sessions they call exist, actions are pinned, publishing
is gated, and zizmor finds nothing.

The workflows are read with PyYAML. zizmor, a maintained GitHub Actions linter, runs offline for
what reading the YAML cannot judge (cache poisoning, template injection, credential leaks...).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from ner_build.ci import workflow
from ner_build.ci.workflow import nox_sessions_called

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.y*ml"))
CI = WORKFLOW_DIR / "ci.yml"

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*[\"']?(?P<ref>[^\s\"'#]+)[\"']?\s*(?P<comment>#.*)?$")
FULL_SHA = re.compile(r"[0-9a-f]{40}")
EXACT_VERSION = re.compile(r"v\d+\.\d+\.\d+")

PUBLISH_CONDITION = (
    "github.event_name == 'push'"
    " && (github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v'))"
)
PUBLISH_NEEDS = {"lint", "tests", "image", "engines", "scan", "rebuild-check"}
# platform-image: not skipped with rebuild-check (skipped on push), never after a failure, and
# then either a push to main or a tag, or a scheduled/manual rebuild that changed the image.
PLATFORM_IMAGE_CONDITION = (
    "!cancelled() && !contains(needs.*.result, 'failure')"
    " && !contains(needs.*.result, 'cancelled')"
    f" && (({PUBLISH_CONDITION}) || needs.rebuild-check.outputs.changed == 'true')"
)
REBUILD_EVENTS = "(github.event_name == 'schedule' || github.event_name == 'workflow_dispatch')"
# ci.yml's line that turns off actions/setup-node's npm cache; without it zizmor reports the
# CACHE_POISONING audit, since the workflow publishes.
CACHE_OFF = re.compile(r"^[ \t]*package-manager-cache:[ \t]*false[ \t]*\n", re.MULTILINE)
CACHE_POISONING = "cache-poisoning"


@cache
def load(path: Path) -> dict[str, Any]:
    """A workflow as PyYAML parses it, with its `on:` key under "on" (ner_build.ci.workflow)."""
    return workflow.load(path)


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    found = load(path).get("jobs")
    assert isinstance(found, dict), f"{path.name} has no `jobs:` mapping"
    assert found, f"{path.name} has no jobs"
    return found


def job(path: Path, name: str) -> dict[str, Any]:
    assert name in jobs(path), f"{path.name} has no job {name!r}"
    return jobs(path)[name]


def steps(path: Path) -> Iterator[dict[str, Any]]:
    for body in jobs(path).values():
        yield from body.get("steps", [])


def run_scripts(path: Path) -> Iterator[str]:
    """The text of every `run:` step, as YAML reads it (block scalars folded or kept)."""
    for step in steps(path):
        if "run" in step:
            yield str(step["run"])


def uses_refs(path: Path) -> list[str]:
    """Every `uses:` of a workflow: steps' actions and jobs' reusable workflows."""
    in_jobs = [str(body["uses"]) for body in jobs(path).values() if "uses" in body]
    return in_jobs + [str(step["uses"]) for step in steps(path) if "uses" in step]


def uses_lines(path: Path) -> list[re.Match[str]]:
    """The `uses:` lines of the raw text, for the comments that parsing drops."""
    return [match for line in path.read_text().splitlines() if (match := USES.match(line))]


@cache
def defined_sessions() -> frozenset[str]:
    # Plain `--list --json` lists only nox.options.sessions; `-k True` selects every session.
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOX")}
    listing = subprocess.run(
        [sys.executable, "-m", "nox", "--list", "--json", "-k", "True"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    sessions = json.loads(listing.stdout)
    return frozenset(name for s in sessions for name in (s["session"], s["name"]))


def zizmor_command() -> str:
    """zizmor from this environment (a dev dependency), else from PATH."""
    beside = Path(sys.executable).with_name("zizmor")
    found = str(beside) if beside.is_file() else shutil.which("zizmor")
    if found is None:
        pytest.fail(
            "zizmor is not installed: it is a dev dependency (poetry install --only dev), "
            f"expected next to {sys.executable} or on PATH"
        )
    return found


def zizmor(target: Path) -> tuple[int, list[dict[str, Any]]]:
    """zizmor's exit code and findings (its JSON output) for a workflow file or directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZIZMOR")}
    result = subprocess.run(
        [zizmor_command(), "--offline", "--format=json", "--no-progress", str(target)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        findings = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"zizmor exited {result.returncode} without JSON findings:\n{result.stderr}")
    if result.returncode != 0 and not findings:
        pytest.fail(f"zizmor exited {result.returncode} with no findings:\n{result.stderr}")
    return result.returncode, findings


def summary(findings: list[dict[str, Any]]) -> list[str]:
    """One line per finding, for failure messages: audit, severity, description, where."""
    return [
        f"{f.get('ident')} ({f.get('determinations', {}).get('severity')}): {f.get('desc')}"
        + "".join(f" at {where}" for where in _primary_locations(f))
        for f in findings
    ]


def _primary_locations(finding: dict[str, Any]) -> Iterator[str]:
    for location in finding.get("locations", []):
        symbolic, concrete = location.get("symbolic", {}), location.get("concrete", {})
        if symbolic.get("kind") == "Primary":
            path = symbolic.get("key", {}).get("Local", {}).get("verbatim_path", "?")
            row = concrete.get("location", {}).get("start_point", {}).get("row", -1)
            yield f"{path}:{row + 1}"


def normalised(expression: str) -> str:
    """An `if:` expression with its optional ${{ }} wrapper dropped and whitespace collapsed."""
    text = " ".join(expression.split())
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    return text


def permission_levels(permissions: object) -> dict[str, str]:
    """`permissions:` as scope -> level; a shorthand (read-all, write-all) is scope "*"."""
    if isinstance(permissions, str):
        return {"*": permissions}
    assert isinstance(permissions, dict), f"unexpected permissions: {permissions!r}"
    return {str(scope): str(level) for scope, level in permissions.items()}


def test_there_are_workflows_to_check() -> None:
    assert CI in WORKFLOWS


def test_the_on_key_is_read_as_on_and_not_as_true() -> None:
    assert True in yaml.safe_load(CI.read_text()), "PyYAML no longer reads `on` as true"
    assert set(load(CI)["on"]) >= {"push", "pull_request"}
    assert all(isinstance(key, str) for key in load(CI))


def test_every_nox_session_a_workflow_runs_exists() -> None:
    called = {
        (path.name, name)
        for path in WORKFLOWS
        for script in run_scripts(path)
        for name in nox_sessions_called(script)
    }
    assert called, "no `nox -s NAME` found in any workflow's run steps"
    missing = sorted(
        f"{file}: nox -s {name}" for file, name in called if name not in defined_sessions()
    )
    assert not missing, f"sessions not in `nox --list`: {missing}"


@pytest.mark.parametrize(
    ("script", "sessions"),
    [
        ("poetry run nox -s lint", ["lint"]),
        ("nox --session test-pipeline build -- --buildx-arg=--load", ["test-pipeline", "build"]),
        ("nox --session=tests && nox -e integration --no-venv", ["tests", "integration"]),
        ('cd x\npython -m nox --sessions publish -- --tag "$REF" -s not-a-session', ["publish"]),
        ("nox -r -s a \\\n  b", ["a", "b"]),
        ("nox", []),
    ],
)
def test_nox_calls_are_read_from_run_scripts(script: str, sessions: list[str]) -> None:
    assert list(nox_sessions_called(script)) == sessions


def test_every_action_is_pinned_to_a_commit_or_an_exact_version() -> None:
    uses = [(path.name, ref) for path in WORKFLOWS for ref in uses_refs(path)]
    assert uses
    floating = [
        f"{file}: {ref}"
        for file, ref in uses
        if not ref.startswith("./")
        and not FULL_SHA.fullmatch(ref.rpartition("@")[2])
        and not EXACT_VERSION.fullmatch(ref.rpartition("@")[2])
    ]
    assert not floating, f"actions not pinned to a full SHA or vX.Y.Z: {floating}"


def test_the_uses_lines_of_the_text_are_the_uses_of_the_parsed_workflow() -> None:
    for path in WORKFLOWS:
        in_text = Counter(match.group("ref") for match in uses_lines(path))
        assert in_text == Counter(uses_refs(path)), f"{path.name}: `uses:` lines not all matched"


def test_actions_pinned_to_a_commit_name_their_version() -> None:
    unnamed = [
        f"{path.name}: {match.group(0).strip()}"
        for path in WORKFLOWS
        for match in uses_lines(path)
        if FULL_SHA.fullmatch(match.group("ref").rpartition("@")[2])
        and not re.fullmatch(r"#\s*v\d+\.\d+\.\d+", (match.group("comment") or "").strip())
    ]
    assert not unnamed, f"SHA pins need a trailing `# vX.Y.Z`: {unnamed}"


def test_publishing_runs_on_pushes_to_main_and_tags_or_when_the_weekly_rebuild_changed() -> None:
    condition = job(CI, "platform-image").get("if")
    assert condition, "platform-image has no `if:`, so it would run on every event"
    assert normalised(str(condition)) == PLATFORM_IMAGE_CONDITION


def test_publish_follows_platform_image_even_when_rebuild_check_was_skipped() -> None:
    """With needs skipped upstream (rebuild-check on push), an `if:` without a status function
    is skipped too: publish and release test their own need's result instead."""
    assert normalised(str(job(CI, "publish")["if"])) == (
        "!cancelled() && needs.platform-image.result == 'success'"
    )


def test_the_platform_images_are_built_only_after_lint_tests_and_the_image_pass() -> None:
    needs = job(CI, "platform-image").get("needs", [])
    needed = {needs} if isinstance(needs, str) else set(needs)
    assert needed >= PUBLISH_NEEDS, f"platform-image needs only {sorted(needed)}"
    assert job(CI, "publish").get("needs") == ["platform-image"]


def test_each_platform_is_built_natively_on_a_runner_of_its_architecture() -> None:
    platform_image = job(CI, "platform-image")
    legs = platform_image["strategy"]["matrix"]["include"]
    assert {(leg["platform"], leg["runner"]) for leg in legs} == {
        ("linux/amd64", "ubuntu-latest"),
        ("linux/arm64", "ubuntu-24.04-arm"),
    }
    assert platform_image["runs-on"] == "${{ matrix.runner }}"
    scripts = "\n".join(str(step.get("run", "")) for step in platform_image["steps"])
    assert '--platform "$PLATFORM"' in scripts
    assert "qemu" not in str(platform_image).lower()


def test_publish_joins_the_digests_into_one_index_then_attests_and_signs_it() -> None:
    steps = job(CI, "publish")["steps"]
    scripts = "\n".join(str(step.get("run", "")) for step in steps)
    assert "docker buildx imagetools create" in scripts
    uses = [str(step.get("uses", "")).split("@")[0] for step in steps]
    assert uses.index("actions/attest-build-provenance") > uses.index("actions/download-artifact")
    assert "cosign sign --yes --recursive" in scripts


@pytest.mark.parametrize("name", ["platform-image", "publish"])
def test_publishing_jobs_can_mint_an_oidc_token(name: str) -> None:
    levels = permission_levels(job(CI, name).get("permissions", {}))
    assert levels.get("id-token") == "write"


def test_workflow_permissions_are_read_only_by_default() -> None:
    permissions = load(CI).get("permissions")
    assert permissions is not None, "no top-level `permissions:`: jobs get the repository default"
    levels = permission_levels(permissions)
    assert set(levels.values()) <= {"read", "none", "read-all"}, levels


def test_the_release_runs_only_on_version_tags_after_publish() -> None:
    release = job(CI, "release")
    assert normalised(str(release.get("if"))) == (
        "!cancelled() && needs.publish.result == 'success'"
        " && github.event_name == 'push' && startsWith(github.ref, 'refs/tags/v')"
    )
    assert release.get("needs") == ["publish"]


def test_the_release_attaches_the_bundle_its_signature_and_the_sboms() -> None:
    scripts = "\n".join(str(step.get("run", "")) for step in job(CI, "release")["steps"])
    assert "nox -s bundle -- --key" in scripts
    for asset in ('"$dir.tar"', "SHA256SUMS.sig", "allowed_signers", '"$dir"/sbom-*.cdx.json'):
        assert asset in scripts.split("gh release create")[1], asset


def test_the_release_bundles_the_pushed_platform_images_instead_of_building_again() -> None:
    """Both platforms as platform-image built them natively: pulled by digest, joined into the
    index record `nox -s bundle -- --all-platforms` reads."""
    steps = job(CI, "release")["steps"]
    scripts = "\n".join(str(step.get("run", "")) for step in steps)
    assert "nox -s build" not in scripts
    assert 'docker pull --platform "linux/${dir##*image-}"' in scripts
    assert 'nox -s index -- "${records[@]}"' in scripts
    assert "--all-platforms" in scripts
    downloads = [step for step in steps if "download-artifact" in str(step.get("uses", ""))]
    assert [step["with"]["pattern"] for step in downloads] == ["image-*"]
    uploads = [
        step for step in job(CI, "platform-image")["steps"]
        if "upload-artifact" in str(step.get("uses", ""))
    ]  # fmt: skip
    assert "build/image.json" in uploads[0]["with"]["path"]


def test_only_the_publishing_and_release_jobs_can_write_and_scan_only_security_events() -> None:
    writes = {
        name: {scope for scope, level in permission_levels(body.get("permissions", {})).items()
               if "write" in level}
        for name, body in jobs(CI).items()
    }  # fmt: skip
    writers = {name for name, scopes in writes.items() if scopes}
    assert writers == {"platform-image", "publish", "release", "scan"}
    assert writes["scan"] == {"security-events"}
    assert all("security-events" not in writes[name] for name in writers - {"scan"})


def test_every_job_declares_its_own_permissions() -> None:
    missing = [name for name, body in jobs(CI).items() if "permissions" not in body]
    assert not missing, f"jobs inheriting the workflow's permissions: {missing}"


# --- the weekly rebuild, the bump pull requests and the vulnerability scan -------------------


def step_using(job_name: str, action: str) -> list[dict[str, Any]]:
    return [
        s for s in job(CI, job_name)["steps"] if str(s.get("uses", "")).startswith(action + "@")
    ]


def scripts_of(job_name: str) -> str:
    return "\n".join(str(step.get("run", "")) for step in job(CI, job_name)["steps"])


def test_the_scale_artifact_is_the_folder_nox_s_scale_writes_its_results_to() -> None:
    from ner_build.deploy import scale

    assert "nox -s scale" in scripts_of("image")
    uploads = [s["with"] for s in step_using("image", "actions/upload-artifact")]
    paths = [u["path"] for u in uploads if u["name"] == "scale"]
    assert paths == [f"{scale.LOGS.relative_to(ROOT).as_posix()}/"]


def test_the_workflow_runs_weekly_and_on_demand() -> None:
    on = load(CI)["on"]
    (entry,) = on["schedule"]
    minute, hour, day, month, weekday = entry["cron"].split()
    assert (day, month) == ("*", "*")
    assert weekday.isdigit(), "one day of the week"
    assert minute.isdigit()
    assert hour.isdigit()
    assert "workflow_dispatch" in on


def test_the_rebuild_check_runs_only_on_the_schedule_or_on_demand_on_main() -> None:
    rebuild = job(CI, "rebuild-check")
    assert normalised(str(rebuild["if"])) == f"{REBUILD_EVENTS} && github.ref == 'refs/heads/main'"
    assert permission_levels(rebuild["permissions"]) == {"contents": "read", "packages": "read"}
    assert rebuild["outputs"]["changed"] == "${{ steps.check.outputs.changed }}"
    scripts = scripts_of("rebuild-check")
    assert 'nox -s rebuild-check -- --published "$REPOSITORY:main"' in scripts
    assert '--summary "$GITHUB_STEP_SUMMARY" --github-output "$GITHUB_OUTPUT"' in scripts
    assert "cache-from" not in scripts, "a rebuild from the cache proves nothing"


def test_a_rebuild_never_repoints_a_commits_tag_at_another_image() -> None:
    (meta,) = step_using("publish", "docker/metadata-action")
    tags = str(meta["with"]["tags"]).splitlines()
    assert "type=sha,enable=${{ github.event_name == 'push' }}" in tags
    assert any(t.startswith("type=raw,value=rebuild-{{date") for t in tags)
    push = scripts_of("platform-image").split("nox -s publish")[0]
    assert 'if [ "$EVENT" != push ]; then tag="rebuild-' in push


def test_bump_pull_requests_prove_the_new_pins_reproducible() -> None:
    scripts = scripts_of("image")
    assert scripts.index("nox -s build") < scripts.index("nox -s reproduce")
    assert "pull_request" in load(CI)["on"]
    assert "if" not in job(CI, "image")


def test_the_scan_gates_on_trivys_json_of_the_image_and_the_sbom_and_uploads_sarif() -> None:
    trivy = step_using("scan", "aquasecurity/trivy-action")
    outputs = [(s["with"].get("scan-type", "image"), s["with"]["format"]) for s in trivy]
    assert outputs == [("image", "json"), ("sbom", "json"), ("image", "sarif")]
    assert all(s["with"]["cache"] == "false" for s in trivy)
    (upload,) = step_using("scan", "github/codeql-action/upload-sarif")
    assert upload["with"]["sarif_file"] == trivy[2]["with"]["output"]
    gate = "nox -s scan-gate -- build/scan/trivy-image.json build/scan/trivy-sbom.json"
    assert gate in scripts_of("scan")


def test_the_release_scans_what_it_bundles_and_puts_the_reports_in_the_bundle() -> None:
    scripts = scripts_of("release")
    assert scripts.index("nox -s scan-gate") < scripts.index("nox -s bundle")
    for report in ("trivy-image-amd64.json", "trivy-sbom-arm64.json"):
        assert f"--scan-report build/scan/{report}" in scripts
    assert len(step_using("release", "aquasecurity/trivy-action")) == 2


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    code, findings = zizmor(WORKFLOW_DIR)
    assert findings == [], "zizmor --offline .github/workflows:\n" + "\n".join(summary(findings))
    assert code == 0


def test_zizmor_reports_cache_poisoning_when_setup_node_caches(tmp_path: Path) -> None:
    """The control: ci.yml with setup-node's npm cache left on, as it was before zizmor ran."""
    reverted, removed = CACHE_OFF.subn("", CI.read_text())
    assert removed == 1, "ci.yml should turn off setup-node's cache exactly once"
    copy = tmp_path / "ci.yml"
    copy.write_text(reverted)
    code, findings = zizmor(copy)
    assert code != 0
    assert CACHE_POISONING in {f["ident"] for f in findings}, summary(findings)
