"""What the build needs to know from git: revision, dirtiness and commit times."""

from __future__ import annotations

from pathlib import Path

from ner_build import process


def _git(root: Path, *args: str) -> str:
    return process.output(["git", "-C", root, *args], hint="Is this a git checkout?")


def revision(root: Path) -> str:
    """The full SHA of HEAD."""
    return _git(root, "rev-parse", "HEAD")


def is_dirty(root: Path) -> bool:
    """True when tracked files differ from HEAD or untracked, unignored files exist."""
    return bool(_git(root, "status", "--porcelain", "--untracked-files=normal"))


def commit_time(root: Path, *paths: str) -> int:
    """Unix time of the last commit touching paths (of HEAD when no path is given)."""
    out = _git(root, "log", "-1", "--format=%ct", "HEAD", "--", *paths)
    return int(out) if out else int(_git(root, "log", "-1", "--format=%ct", "HEAD"))
