"""The GitHub Actions workflows: nox sessions they call exist, actions are pinned, publishing
is gated.

PyYAML is not in the lock, so the workflows are read as text: a small indentation-based reader
for the parts these tests look at (job blocks, `run:` scripts, `uses:` lines, `permissions:`).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
CI = ROOT / ".github" / "workflows" / "ci.yml"

RUN_KEY = re.compile(r"^(?P<indent>\s*(?:-\s+)?)run:\s*(?P<value>.*)$")
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*[\"']?(?P<ref>[^\s\"'#]+)[\"']?\s*(?P<comment>#.*)?$")
SESSION_FLAGS = ("-s", "-e", "--session", "--sessions")
SHELL_OPERATORS = {"&&", "||", ";", "|", "&", "(", ")"}
FULL_SHA = re.compile(r"[0-9a-f]{40}")
EXACT_VERSION = re.compile(r"v\d+\.\d+\.\d+")


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def strip_comment(value: str) -> str:
    return re.sub(r"\s+#.*$", "", value).strip()


def children(lines: list[str], index: int) -> list[str]:
    """The lines nested under lines[index] (more indented), blank lines included."""
    parent = indent_of(lines[index])
    nested: list[str] = []
    for line in lines[index + 1 :]:
        if line.strip() and indent_of(line) <= parent:
            break
        nested.append(line)
    return nested


def mapping(lines: list[str]) -> dict[str, tuple[str, list[str]]]:
    """The keys at the top level of a block: key -> (inline value, nested lines)."""
    entries = [
        i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")
    ]
    if not entries:
        return {}
    level = min(indent_of(lines[i]) for i in entries)
    result: dict[str, tuple[str, list[str]]] = {}
    for i in entries:
        match = re.match(r"^\s*([\w-]+):(?:\s+(.*))?$", lines[i])
        if indent_of(lines[i]) == level and match:
            result[match.group(1)] = (strip_comment(match.group(2) or ""), children(lines, i))
    return result


def workflow(path: Path) -> dict[str, tuple[str, list[str]]]:
    return mapping(path.read_text().splitlines())


def job(path: Path, name: str) -> dict[str, tuple[str, list[str]]]:
    jobs = mapping(workflow(path)["jobs"][1])
    assert name in jobs, f"{path.name} has no job {name!r}"
    return mapping(jobs[name][1])


def run_scripts(path: Path) -> Iterator[str]:
    """The text of every `run:` step, block scalars (| and >) included."""
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        match = RUN_KEY.match(line)
        if not match:
            continue
        value = match.group("value").strip()
        if not value.startswith(("|", ">")):
            yield value
            continue
        key_column = len(match.group("indent"))
        body: list[str] = []
        for nested in lines[index + 1 :]:
            if nested.strip() and indent_of(nested) <= key_column:
                break
            body.append(nested.strip())
        yield ("\n" if value.startswith("|") else " ").join(body)


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


def evaluate(expression: str, github: dict[str, str]) -> bool:
    """A GitHub Actions `if:` expression (==, !=, &&, ||, !, startsWith) on a github context."""
    source = expression.strip()
    if source.startswith("${{") and source.endswith("}}"):
        source = source[3:-2]
    source = source.replace("&&", " and ").replace("||", " or ")
    source = re.sub(r"!(?!=)", " not ", source)
    return bool(_evaluate(ast.parse(source.strip(), mode="eval").body, github))


def _evaluate(node: ast.expr, github: dict[str, str]) -> object:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Attribute(value=ast.Name(id="github"), attr=attr):
            return github.get(attr, "")
        case ast.BoolOp(op=ast.And(), values=values):
            return all(_evaluate(v, github) for v in values)
        case ast.BoolOp(op=ast.Or(), values=values):
            return any(_evaluate(v, github) for v in values)
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _evaluate(operand, github)
        case ast.Compare(left=left, ops=[ast.Eq() | ast.NotEq() as op], comparators=[right]):
            equal = _evaluate(left, github) == _evaluate(right, github)
            return equal if isinstance(op, ast.Eq) else not equal
        case ast.Call(func=ast.Name(id="startsWith"), args=[text, prefix]):
            return str(_evaluate(text, github)).startswith(str(_evaluate(prefix, github)))
    raise AssertionError(f"unsupported expression: {ast.unparse(node)}")


def github_context(event: str, ref: str) -> dict[str, str]:
    kind, _, name = ref.removeprefix("refs/").partition("/")
    ref_type = {"heads": "branch", "tags": "tag"}.get(kind, "")
    return {"event_name": event, "ref": ref, "ref_name": name, "ref_type": ref_type}


def test_there_are_workflows_to_check() -> None:
    assert CI in WORKFLOWS


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
    uses = [
        (path.name, match.group("ref"))
        for path in WORKFLOWS
        for line in path.read_text().splitlines()
        if (match := USES.match(line))
    ]
    assert uses
    floating = [
        f"{file}: {ref}"
        for file, ref in uses
        if not ref.startswith("./")
        and not FULL_SHA.fullmatch(ref.rpartition("@")[2])
        and not EXACT_VERSION.fullmatch(ref.rpartition("@")[2])
    ]
    assert not floating, f"actions not pinned to a full SHA or vX.Y.Z: {floating}"


def test_actions_pinned_to_a_commit_name_their_version() -> None:
    unnamed = [
        f"{path.name}: {line.strip()}"
        for path in WORKFLOWS
        for line in path.read_text().splitlines()
        if (match := USES.match(line))
        and FULL_SHA.fullmatch(match.group("ref").rpartition("@")[2])
        and not re.fullmatch(r"#\s*v\d+\.\d+\.\d+", (match.group("comment") or "").strip())
    ]
    assert not unnamed, f"SHA pins need a trailing `# vX.Y.Z`: {unnamed}"


@pytest.mark.parametrize(
    ("event", "ref", "runs"),
    [
        ("push", "refs/heads/main", True),
        ("push", "refs/tags/v1.2.3", True),
        ("push", "refs/heads/feature", False),
        ("push", "refs/tags/nightly", False),
        ("pull_request", "refs/pull/7/merge", False),
        ("pull_request", "refs/heads/main", False),
        ("workflow_dispatch", "refs/heads/main", False),
    ],
)
def test_publish_runs_only_on_pushes_to_main_and_version_tags(
    event: str, ref: str, runs: bool
) -> None:
    condition = job(CI, "publish").get("if", ("", []))[0]
    assert condition, "the publish job has no `if:`, so it would run on every event"
    assert evaluate(condition, github_context(event, ref)) is runs


def test_publish_can_mint_an_oidc_token() -> None:
    permissions = mapping(job(CI, "publish")["permissions"][1])
    assert permissions.get("id-token", ("none", []))[0] == "write"


def test_workflow_permissions_are_read_only_by_default() -> None:
    value, nested = workflow(CI)["permissions"]
    if value:
        assert value in ("read-all", "{}")
        return
    granted = {key: level for key, (level, _) in mapping(nested).items()}
    assert granted, "top-level `permissions:` is empty"
    assert set(granted.values()) <= {"read", "none"}, granted


def job_permissions(body: dict[str, tuple[str, list[str]]]) -> dict[str, str]:
    value, nested = body.get("permissions", ("", []))
    return {"*": value} if value else {key: level for key, (level, _) in mapping(nested).items()}


def test_only_the_publish_job_can_write() -> None:
    jobs = mapping(workflow(CI)["jobs"][1])
    writers = {
        name
        for name, (_, body) in jobs.items()
        if any("write" in level for level in job_permissions(mapping(body)).values())
    }
    assert writers == {"publish"}
