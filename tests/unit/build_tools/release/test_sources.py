"""A bundle's sources/ and the offline rebuild: the parts that need no engine and no network.
tests/integration/test_offline_rebuild.py proves the whole round trip."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from ner_build.build import offline_inputs as offline
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed
from ner_build.proofs import rebuild
from ner_build.release import sources

from ..support import ROOT, commit, git

FIRST, SECOND = 1_700_000_000, 1_700_003_600


def fake_sources(bundle: Path) -> Path:
    """A bundle folder with every file a rebuild checks for (contents are placeholders)."""
    src = bundle / "sources"
    for path in (
        offline.IMAGE_WHEELS / "a-1.0-py3-none-any.whl",
        offline.DEBS / "binutils_2.40-2_amd64.deb",
        offline.MODEL / "en_x-1.0-py3-none-any.whl",
        offline.BASE_ARCHIVE,
        offline.BASE_RECORD,
    ):
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_text("placeholder\n")
    (bundle / "image.json").write_text(
        json.dumps({"image_id": "sha256:" + "a" * 64, "tags": ["x:1"], "revision": "b" * 40})
    )
    return src


def test_a_normal_build_gets_an_offline_folder_with_a_note_only(tmp_path: Path) -> None:
    target = tmp_path / "context" / "offline"
    offline.prepare(target, None)
    assert [p.name for p in target.iterdir()] == ["README"]


def test_a_rebuild_gets_the_bundles_wheels_and_debs(tmp_path: Path) -> None:
    src = fake_sources(tmp_path / "bundle")
    target = tmp_path / "context" / "offline"
    offline.prepare(target, src)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*.*")) == [
        "debs/binutils_2.40-2_amd64.deb",
        "wheels/a-1.0-py3-none-any.whl",
    ]


def test_sources_without_debs_are_refused_and_say_how_to_make_them(tmp_path: Path) -> None:
    src = fake_sources(tmp_path / "bundle")
    (src / offline.DEBS / "binutils_2.40-2_amd64.deb").unlink()
    with pytest.raises(CheckFailed, match=r"holds no \*\.deb.*--with-sources"):
        offline.prepare(tmp_path / "offline", src)


def test_binutils_version_is_read_from_the_dockerfile(tmp_path: Path) -> None:
    assert sources.binutils_version(ROOT / "docker" / "Dockerfile") == "2.40-2"
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(CheckFailed, match="must pin it"):
        sources.binutils_version(tmp_path / "Dockerfile")


def test_the_model_is_the_candidate_with_the_built_sha256(tmp_path: Path) -> None:
    other, built = tmp_path / "other.whl", tmp_path / "en_x-1.0-py3-none-any.whl"
    other.write_bytes(b"other")
    built.write_bytes(b"built")
    sha256 = hashlib.sha256(b"built").hexdigest()
    copied = sources.add_model(tmp_path / "out", sha256, iter([other, built]))
    assert copied == tmp_path / "out" / built.name
    assert copied.read_bytes() == b"built"


def test_no_model_with_the_built_sha256_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other.whl").write_bytes(b"other")
    with pytest.raises(CheckFailed, match="NER_MODEL_WHEEL"):
        sources.add_model(tmp_path / "out", "0" * 64, iter([tmp_path / "other.whl"]))


def test_the_git_bundle_holds_the_revision_not_head_and_leaves_no_ref(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo()
    built = commit(repo, {"a.txt": "a\n"}, FIRST)
    commit(repo, {"a.txt": "later\n"}, SECOND)  # HEAD moved on after the build
    sources.git_bundle(repo, built, tmp_path / "ner-app.git")
    assert git(repo, "for-each-ref", sources.BUNDLE_REF) == ""
    # What rebuild.sh does with it:
    ref = git(repo, "bundle", "list-heads", str(tmp_path / "ner-app.git")).split()[1]
    clone = tmp_path / "clone"
    git(tmp_path, "init", "-q", str(clone))
    git(clone, "fetch", "-q", str(tmp_path / "ner-app.git"), ref)
    git(clone, "checkout", "-q", "--detach", "FETCH_HEAD")
    assert git(clone, "rev-parse", "HEAD") == built
    assert (clone / "a.txt").read_text() == "a\n"
    assert git(clone, "log", "--format=%ct", "-1", "--", "a.txt") == str(FIRST)


def test_a_lock_changed_since_the_build_is_refused(make_repo: Callable[..., Path]) -> None:
    repo = make_repo()
    built = commit(repo, {"poetry.lock": "old\n", "pyproject.toml": "x\n"}, FIRST)
    sources.check_tree_matches(repo, built)
    (repo / "poetry.lock").write_text("new\n")
    with pytest.raises(CheckFailed, match=r"poetry\.lock differ from the built commit"):
        sources.check_tree_matches(repo, built)


def test_rebuild_sh_is_shipped_beside_the_tools() -> None:
    script = sources.REBUILD_SCRIPT.read_text()
    assert script.startswith("#!/bin/sh\n")
    assert "verify-and-load.sh --verify-only" in script
    assert "--no-index" in script
    assert "--require-hashes" in script


def test_the_rebuild_builds_offline_from_the_bundle(tmp_path: Path) -> None:
    src = fake_sources(tmp_path / "bundle")
    options = rebuild.options(src, Docker(("docker",)), "ner-app-rebuild-base:1234", "poetry")
    assert options.buildx_args == ["--network=none"]
    assert options.offline == src
    assert options.ca_bundle is None
    assert options.model_mirror is None
    assert options.model_wheel == src / offline.MODEL / "en_x-1.0-py3-none-any.whl"
    assert options.base_image == "ner-app-rebuild-base:1234"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: (b / "image.json").unlink(), "image.json is missing"),
        (lambda b: (b / "image.json").write_text("{}"), "is not a bundle's image.json"),
        (lambda b: (b / "sources" / offline.BASE_ARCHIVE).unlink(), "base-image.tar is missing"),
        (lambda b: (b / "sources" / "model" / "en_x-1.0-py3-none-any.whl").unlink(), "one model"),
    ],
)
def test_a_bad_bundle_is_one_line_of_error_before_any_engine_is_asked(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], object],
    message: str,
) -> None:
    bundle = tmp_path / "bundle"
    fake_sources(bundle)
    damage(bundle)
    assert rebuild.main([str(bundle), "--docker", str(tmp_path / "no-such-client")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_no_sources_folder_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "bundle"
    fake_sources(bundle)
    for path in sorted((bundle / "sources").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (bundle / "sources").rmdir()
    assert rebuild.main([str(bundle)]) == 1
    assert "--with-sources" in capsys.readouterr().err


def test_a_missing_engine_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "bundle"
    fake_sources(bundle)
    assert rebuild.main([str(bundle), "--docker", str(tmp_path / "no-such-client")]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: ")
    assert "no-such-client` was not found" in err
    assert "Traceback" not in err
