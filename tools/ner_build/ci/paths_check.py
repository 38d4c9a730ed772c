"""`python -m ner_build.ci.paths_check [WORKFLOW...]`: every path a step reads or writes exists.

A path exists in a job when the repository holds it (after actions/checkout) or an earlier step
of the same job made it: `mkdir`, a redirection `>`, an `--output`/`-o` argument, an action's
output (Trivy's `output`, the folder actions/download-artifact fills) or a nox session's
outputs (SESSION_OUTPUTS). A step writing a file needs its folder: Trivy, for one, does not
create it. Checked are the workspace's paths: those starting with a top-level name of the
repository or of its ignored output folders (build/); $RUNNER_TEMP, /tmp and the like are not.
An expression or a variable inside a path (`${{ github.ref_name }}`, `$GITHUB_REF_NAME`)
stands for any name. A folder filled by a tool or an action whose contents this check does
not follow (the artifacts a download brings, the test pipeline) admits any path under it.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from ner_build import console, git
from ner_build.browser.evidence import EVIDENCE
from ner_build.build.multiplatform import ARCHIVE, RECORD
from ner_build.ci import workflow
from ner_build.deploy.scenarios import LOGS
from ner_build.errors import CheckFailed
from ner_build.paths import (
    BUILD,
    CACHE,
    CONTEXT,
    PUBLISH_RESULT,
    RESULT,
    ROOT,
    SBOM,
    TEST_PIPELINE,
)
from ner_build.proofs import engines, reproduce

READ, WRITE, FOLDER, FILLED = "reads", "writes", "makes the folder", "fills"
CHECKOUT = "actions/checkout"
PATH_CHARS = r"[^\s\"'`;|&<>()]"
EXPRESSION = re.compile(r"\$\{\{.*?\}\}|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
REDIRECT = re.compile(rf"(?<![<>&\d])>>?\s*[\"']?(?P<path>{PATH_CHARS}+)")
OUTPUT_FLAG = re.compile(rf"(?:--output|-o)(?:=|\s+)[\"']?(?P<path>{PATH_CHARS}+)")
MKDIR = re.compile(r"\bmkdir\b(?P<args>[^;&|\n)]*)")
NOT_MADE = "neither the repository holds nor an earlier step of this job makes"
NO_CHECKOUT = " (no actions/checkout before it)"
NOT_CREATED = "it is not in the repository and the step does not create it"


@dataclass(frozen=True)
class Outputs:
    """What a nox session leaves in the workspace: files, and folders it fills."""

    files: tuple[Path, ...] = ()
    filled: tuple[Path, ...] = ()


# The sessions' outputs under build/, from the constants the tools write them to.
SESSION_OUTPUTS: dict[str, Outputs] = {
    "test-pipeline": Outputs(filled=(TEST_PIPELINE,)),
    "build": Outputs(files=(RESULT, SBOM), filled=(CONTEXT, CACHE)),
    "integration": Outputs(filled=(BUILD / "screenshots", EVIDENCE)),
    "reproduce": Outputs(files=(reproduce.OURS,), filled=(EVIDENCE,)),
    "scale": Outputs(filled=(LOGS, EVIDENCE)),
    "engines": Outputs(files=(engines.SUMMARY,), filled=(BUILD / "engines", EVIDENCE)),
    "publish": Outputs(files=(PUBLISH_RESULT,)),
    "index": Outputs(files=(ARCHIVE, RECORD)),
    "bundle": Outputs(filled=(BUILD / "bundle",)),
}

# The inputs of the actions we use that name a path in the workspace, and what the action does
# with it. download-artifact creates its folder; Trivy's `output` needs its folder to exist.
ACTION_INPUTS: dict[str, dict[str, str]] = {
    "aquasecurity/trivy-action": {"output": WRITE, "scan-ref": READ},
    "actions/upload-artifact": {"path": READ},
    "actions/download-artifact": {"path": FILLED},
    "github/codeql-action/upload-sarif": {"sarif_file": READ},
    "actions/attest-sbom": {"sbom-path": READ},
    "actions/attest-build-provenance": {"subject-path": READ},
}


@dataclass(frozen=True)
class Access:
    kind: str
    path: str  # relative to the workspace; `*` where an expression or a variable stands


@dataclass
class Workspace:
    """What exists in one job's workspace before a step."""

    files: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=lambda: {"."})
    filled: set[str] = field(default_factory=set)

    def copy(self) -> Workspace:
        return Workspace(set(self.files), set(self.folders), set(self.filled))

    def add_folder(self, path: str) -> None:
        self.folders.update(_with_parents(path))

    def add_file(self, path: str) -> None:
        self.files.add(path)
        self.add_folder(parent(path))

    def add_filled(self, path: str) -> None:
        self.filled.add(path)
        self.add_folder(path)

    def add_outputs(self, outputs: Outputs) -> None:
        for file in outputs.files:
            self.add_file(relative(file))
        for folder in outputs.filled:
            self.add_filled(relative(folder))

    def has(self, pattern: str, folder: bool = False) -> bool:
        literal = pattern.split("*", 1)[0]
        if any(pattern == f or literal.startswith(f + "/") for f in self.filled):
            return True
        names = self.folders if folder else self.folders | self.files
        return any(fnmatchcase(name, pattern) for name in names)


@dataclass(frozen=True)
class Repository:
    """The checkout: its files, and the top-level names a workspace path starts with."""

    files: frozenset[str]
    tops: frozenset[str]

    def is_workspace_path(self, path: str) -> bool:
        return not path.startswith(("/", "*", "~")) and path.split("/", 1)[0] in self.tops


@dataclass(frozen=True)
class Finding:
    job: str
    step: str
    message: str

    def __str__(self) -> str:
        return f"{self.job} / {self.step}: {self.message}"


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def parent(path: str) -> str:
    return str(PurePosixPath(path).parent)


def _with_parents(path: str) -> Iterator[str]:
    pure = PurePosixPath(path)
    yield str(pure)
    yield from (str(p) for p in pure.parents)


def normalised(path: str) -> str:
    """A path as the check compares it: expressions and variables as `*`, no ./ or trailing /."""
    text = EXPRESSION.sub("*", path.strip())
    return str(PurePosixPath(text)) if text else text


def repository(root: Path = ROOT) -> Repository:
    files = frozenset(git.run(root, "ls-files", "-z").split("\0")) - {""}
    ignored = (
        (root / ".gitignore").read_text().splitlines() if (root / ".gitignore").exists() else []
    )
    output_folders = {line.strip("/") for line in ignored if re.fullmatch(r"/[\w.-]+/", line)}
    tops = {name.split("/", 1)[0] for name in files if "/" in name}
    return Repository(files, frozenset(tops | output_folders))


def script_accesses(script: str, repo: Repository) -> Iterator[tuple[list[Access], Outputs]]:
    """Per logical line of a `run:` script: its accesses in order, and its sessions' outputs."""
    for line in workflow.logical_lines(script):
        if line.lstrip().startswith("#"):
            continue
        sessions = [
            SESSION_OUTPUTS.get(name, Outputs()) for name in workflow.nox_sessions_called(line)
        ]
        outputs = Outputs(
            tuple(f for o in sessions for f in o.files),
            tuple(f for o in sessions for f in o.filled),
        )
        yield _line_accesses(line, repo), outputs


def _line_accesses(line: str, repo: Repository) -> list[Access]:
    found: list[tuple[int, Access]] = []
    taken: list[tuple[int, int]] = []
    for match in MKDIR.finditer(line):
        for word in _words(match.group("args")):
            if not word.startswith("-"):
                found.append((match.start(), Access(FOLDER, normalised(word))))
        taken.append(match.span())
    for pattern in (REDIRECT, OUTPUT_FLAG):
        for match in pattern.finditer(line):
            found.append((match.start(), Access(WRITE, normalised(match.group("path")))))
            taken.append(match.span("path"))
    mention = re.compile(
        rf"(?<![\w./$*-])(?P<path>(?:{'|'.join(map(re.escape, repo.tops))})/{PATH_CHARS}*)"
    )
    for match in mention.finditer(line):
        if not any(start <= match.start() < end for start, end in taken):
            found.append((match.start(), Access(READ, normalised(match.group("path")))))
    ordered = [access for _, access in sorted(found, key=lambda pair: pair[0])]
    return [access for access in ordered if repo.is_workspace_path(access.path)]


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def action_accesses(step: dict[str, Any], repo: Repository) -> list[Access]:
    action = str(step["uses"]).split("@", 1)[0]
    inputs = step.get("with") or {}
    accesses = []
    for name, kind in ACTION_INPUTS.get(action, {}).items():
        for value in str(inputs.get(name, "")).splitlines():
            path = normalised(value)
            if path and not value.strip().startswith("!") and repo.is_workspace_path(path):
                accesses.append(Access(kind, path))
    return accesses


def problem(access: Access, ws: Workspace, checked_out: bool, repo: Repository) -> str | None:
    """What is wrong with one access before the step runs, or None."""
    if access.kind == READ and not ws.has(access.path):
        missing = "" if checked_out or not _tracked(access.path, repo) else NO_CHECKOUT
        return f"reads {access.path}, which {NOT_MADE}{missing}"
    if access.kind == WRITE and not ws.has(parent(access.path), folder=True):
        folder = parent(access.path)
        return (
            f"writes {access.path}, but nothing makes its folder {folder} before this step "
            f"({NOT_CREATED}): add `mkdir -p {folder}` before it"
        )
    return None


def _tracked(pattern: str, repo: Repository) -> bool:
    return any(fnmatchcase(name, pattern) or name.startswith(pattern + "/") for name in repo.files)


def apply(access: Access, *workspaces: Workspace) -> None:
    for ws in workspaces:
        if access.kind == FOLDER:
            ws.add_folder(access.path)
        elif access.kind == FILLED:
            ws.add_filled(access.path)
        elif access.kind == WRITE:
            ws.add_file(access.path)


def check_job(name: str, body: dict[str, Any], repo: Repository) -> Iterator[Finding]:
    ws, checked_out = Workspace(), False
    for index, step in enumerate(body.get("steps", [])):
        label = workflow.step_label(step, index)
        if str(step.get("uses", "")).split("@", 1)[0] == CHECKOUT:
            checked_out = True
            for file in repo.files:
                ws.add_file(file)
        elif "uses" in step:
            yield from _check(
                name, label, [(action_accesses(step, repo), Outputs())], ws, repo, checked_out
            )
        elif "run" in step:
            yield from _check(
                name, label, list(script_accesses(str(step["run"]), repo)), ws, repo, checked_out
            )


def _check(
    job: str,
    label: str,
    lines: list[tuple[list[Access], Outputs]],
    ws: Workspace,
    repo: Repository,
    checked_out: bool,
) -> Iterator[Finding]:
    for accesses, outputs in lines:
        after = ws.copy()  # a write may go into a folder the same command makes (bundle --output)
        after.add_outputs(outputs)
        for access in accesses:
            seen = after if access.kind == WRITE else ws
            if (message := problem(access, seen, checked_out, repo)) is not None:
                yield Finding(job, label, message)
            apply(access, ws, after)
        ws.add_outputs(outputs)


def check(document: dict[str, Any], repo: Repository, name: str = "workflow") -> list[Finding]:
    return [
        finding
        for job, body in workflow.jobs(document, name).items()
        for finding in check_job(job, body, repo)
    ]


def run(paths: Sequence[Path], repo: Repository) -> str:
    findings = [
        f"{path.name}: {f}" for path in paths for f in check(workflow.load(path), repo, path.name)
    ]
    if findings:
        raise CheckFailed(
            "\n".join(findings)
            + f"\n{len(findings)} step(s) read or write a path that does not exist then"
        )
    names = ", ".join(p.name for p in paths)
    return f"ok: every path the steps of {names} read or write exists when they run"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ner_build.ci.paths_check", description=__doc__)
    parser.add_argument("workflows", nargs="*", type=Path, help="default: .github/workflows/*.yml")
    args = parser.parse_args(argv)
    paths = args.workflows or sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    return console.run_main(lambda: print(run(paths, repository())))


if __name__ == "__main__":
    sys.exit(main())
