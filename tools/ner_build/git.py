"""What the build needs to know from git: revision, dirtiness, commit times and committed files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ner_build import console, process


def run(root: Path, *args: str) -> str:
    """The output of a git command in root, which must succeed."""
    return process.output(["git", "-C", root, *args], hint="Is this a git checkout?")


def revision(root: Path) -> str:
    """The full SHA of HEAD."""
    return run(root, "rev-parse", "HEAD")


def is_dirty(root: Path) -> bool:
    """True when tracked files differ from HEAD or untracked, unignored files exist."""
    return bool(run(root, "status", "--porcelain", "--untracked-files=normal"))


def commit_time(root: Path, *paths: str) -> int:
    """Unix time of the last commit touching paths (of HEAD when no path is given)."""
    out = run(root, "log", "-1", "--format=%ct", "HEAD", "--", *paths)
    return int(out) if out else int(run(root, "log", "-1", "--format=%ct", "HEAD"))


def show(root: Path, revision: str, path: str) -> bytes | None:
    """A file's bytes as committed at revision; None when there is no such commit or file."""
    return process.output_bytes(["git", "-C", root, "show", f"{revision}:{path}"])


def revision_time(root: Path, revision: str) -> int:
    """Unix time of a commit."""
    return int(run(root, "log", "-1", "--format=%ct", revision))


@contextmanager
def worktree(root: Path, path: Path) -> Iterator[Path]:
    """HEAD of root checked out (detached) in a git worktree at path, removed afterwards (and
    before, when an interrupted run left it): root's own checkout is never touched."""
    if path.exists():
        run(root, "worktree", "remove", "--force", str(path))
    console.step(f"checking out HEAD in a worktree at {path}")
    run(root, "worktree", "add", "--detach", str(path), "HEAD")
    try:
        yield path
    finally:
        run(root, "worktree", "remove", "--force", str(path))
