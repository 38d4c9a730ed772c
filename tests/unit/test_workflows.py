"""The GitHub Actions workflows: nox sessions they call exist, actions are pinned, publishing
is gated, and zizmor finds nothing.

The workflows are read with PyYAML. zizmor, a maintained GitHub Actions linter, runs offline for
what reading the YAML cannot judge (cache poisoning, template injection, credential leaks...).
"""

from __future__ import annotations

import json
import os
import re
import shlex
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

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.y*ml"))
CI = WORKFLOW_DIR / "ci.yml"

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*[\"']?(?P<ref>[^\s\"'#]+)[\"']?\s*(?P<comment>#.*)?$")
SESSION_FLAGS = ("-s", "-e", "--session", "--sessions")
SHELL_OPERATORS = {"&&", "||", ";", "|", "&", "(", ")"}
FULL_SHA = re.compile(r"[0-9a-f]{40}")
EXACT_VERSION = re.compile(r"v\d+\.\d+\.\d+")

PUBLISH_CONDITION = (
    "github.event_name == 'push'"
    " && (github.ref == 'refs/heads/main' || startsWith(github.ref, 'refs/tags/v'))"
)
PUBLISH_NEEDS = {"lint", "tests", "image"}
# ci.yml's line that turns off actions/setup-node's npm cache; without it zizmor reports the
# CACHE_POISONING audit, since the workflow publishes.
CACHE_OFF = re.compile(r"^[ \t]*package-manager-cache:[ \t]*false[ \t]*\n", re.MULTILINE)
CACHE_POISONING = "cache-poisoning"


@cache
def load(path: Path) -> dict[str, Any]:
    """A workflow as PyYAML parses it, with its `on:` key under "on".

    PyYAML reads YAML 1.1, where a bare `on` is the boolean true: the key comes back as True.
    """
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), f"{path.name} is not a YAML mapping"
    if True in document:
        assert "on" not in document, f"{path.name} has both `on` and a key read as true"
        document["on"] = document.pop(True)
    return document


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


def nox_sessions_called(script: str) -> Iterator[str]:
    """Session names given to nox with -s/-e/--session(s), up to `--` or the command's end."""
    for line in script.replace("\\\n", " ").splitlines():
        if "nox" not in line:
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for start, word in enumerate(tokens):
            if word == "nox" or word.endswith("/nox"):
                yield from _session_arguments(tokens[start + 1 :])


def _session_arguments(tokens: list[str]) -> Iterator[str]:
    taking = False
    for word in tokens:
        if word == "--" or word in SHELL_OPERATORS:
            return
        flag, _, inline = word.partition("=")
        if flag in SESSION_FLAGS:
            taking = True
            if inline:
                yield inline
        elif word.startswith("-"):
            taking = False
        elif taking:
            yield word


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


@pytest.mark.parametrize("name", ["platform-image", "publish"])
def test_publishing_runs_only_on_pushes_to_main_and_version_tags(name: str) -> None:
    condition = job(CI, name).get("if")
    assert condition, f"the {name} job has no `if:`, so it would run on every event"
    assert normalised(str(condition)) == PUBLISH_CONDITION


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
        "github.event_name == 'push' && startsWith(github.ref, 'refs/tags/v')"
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


def test_only_the_publishing_and_release_jobs_can_write() -> None:
    writers = {
        name
        for name, body in jobs(CI).items()
        if any(
            "write" in level for level in permission_levels(body.get("permissions", {})).values()
        )
    }
    assert writers == {"platform-image", "publish", "release"}


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
