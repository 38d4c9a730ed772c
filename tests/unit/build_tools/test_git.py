import re
from collections.abc import Callable
from pathlib import Path

from ner_build import git

from .support import commit

FIRST, SECOND = 1_700_000_000, 1_700_003_600


def test_revision_is_the_full_sha_of_head(make_repo: Callable[..., Path]) -> None:
    repo = make_repo()
    first = commit(repo, {"a.txt": "a\n"}, FIRST)
    assert git.revision(repo) == first
    assert re.fullmatch(r"[0-9a-f]{40}", first)
    second = commit(repo, {"b.txt": "b\n"}, SECOND)
    assert git.revision(repo) == second != first


def test_clean_tree_is_not_dirty(make_repo: Callable[..., Path]) -> None:
    repo = make_repo()
    commit(repo, {"a.txt": "a\n", ".gitignore": "ignored/\n"}, FIRST)
    (repo / "ignored").mkdir()
    (repo / "ignored" / "out.txt").write_text("build output\n")
    assert git.is_dirty(repo) is False


def test_editing_a_tracked_file_makes_the_tree_dirty(make_repo: Callable[..., Path]) -> None:
    repo = make_repo()
    commit(repo, {"a.txt": "a\n"}, FIRST)
    (repo / "a.txt").write_text("changed\n")
    assert git.is_dirty(repo) is True


def test_adding_an_untracked_file_makes_the_tree_dirty(make_repo: Callable[..., Path]) -> None:
    repo = make_repo()
    commit(repo, {"a.txt": "a\n"}, FIRST)
    (repo / "new.txt").write_text("new\n")
    assert git.is_dirty(repo) is True


def test_commit_time_of_head_and_of_a_path(make_repo: Callable[..., Path]) -> None:
    repo = make_repo()
    commit(repo, {"a.txt": "a\n"}, FIRST)
    commit(repo, {"b.txt": "b\n"}, SECOND)
    assert git.commit_time(repo) == SECOND
    assert git.commit_time(repo, "a.txt") == FIRST
    assert git.commit_time(repo, "b.txt") == SECOND


def test_commit_time_of_a_never_committed_path_is_heads(make_repo: Callable[..., Path]) -> None:
    repo = make_repo()
    commit(repo, {"a.txt": "a\n"}, FIRST)
    commit(repo, {"b.txt": "b\n"}, SECOND)
    assert git.commit_time(repo, "missing.txt") == SECOND


def test_show_gives_a_committed_file_byte_for_byte_or_none(make_repo: Callable[..., Path]) -> None:
    repo = make_repo()
    head = commit(repo, {"poetry.lock": "lock\r\n"}, FIRST)
    assert git.show(repo, head, "poetry.lock") == b"lock\r\n"
    assert git.show(repo, head, "missing.lock") is None
    assert git.show(repo, "0" * 40, "poetry.lock") is None
