import copy
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

from ner_build import normalize

EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z
EPOCH_ISO = "2023-11-14T22:13:20Z"
LATER, EARLIER = EPOCH + 86_400, EPOCH - 86_400
XATTR = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00"}
LONG_PATH = "usr/lib/" + "/".join(["deeply-nested-directory"] * 5) + "/module.py"
TAGS = ["ner-app:0.1.0", "ner-app:latest"]

Member = tuple[tarfile.TarInfo, bytes]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def member(
    name: str,
    data: bytes = b"",
    *,
    kind: bytes = tarfile.REGTYPE,
    mtime: float = EARLIER,
    mode: int = 0o644,
    owner: tuple[int, int] = (0, 0),
    linkname: str = "",
    pax: dict[str, str] | None = None,
) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mtime, info.mode, info.linkname = kind, mtime, mode, linkname
    info.uid, info.gid = owner
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.pax_headers = dict(pax or {})
    return info, data


def layer(*members: Member) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def clamp(data: bytes, epoch: int = EPOCH) -> tuple[str, bytes]:
    target = io.BytesIO()
    diff_id = normalize.clamp_layer(io.BytesIO(data), target, epoch)
    return diff_id, target.getvalue()


def read_layer(data: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    found: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for info in tar:
            stream = tar.extractfile(info) if info.isfile() else None
            found[info.name] = (info, stream.read() if stream else None)
    return found


def rich_layer(mtime: float = LATER, pax_times: str = "1700090000.25") -> bytes:
    """A layer with one of everything a layer may hold, all modified at mtime."""
    return layer(
        member("etc", kind=tarfile.DIRTYPE, mode=0o755, mtime=mtime),
        member(
            "etc/app.conf",
            b"workers = 4\n",
            mode=0o640,
            owner=(1000, 1001),
            mtime=mtime,
            pax={"atime": pax_times, "ctime": pax_times},
        ),
        member("usr/bin/ping", b"\x7fELF ping", mode=0o4755, mtime=mtime, pax=XATTR),
        member("usr/bin/sh", kind=tarfile.SYMTYPE, linkname="/bin/dash", mtime=mtime),
        member("usr/bin/ping6", kind=tarfile.LNKTYPE, linkname="usr/bin/ping", mtime=mtime),
        member("var/cache/.wh.stale", mtime=mtime),
        member("opt/app/.wh..wh..opq", mtime=mtime),
        member(LONG_PATH, b"print('deep')\n", mtime=mtime),
    )


# --- clamp_layer ------------------------------------------------------------------------------


def test_clamp_layer_moves_later_mtimes_to_the_epoch_and_keeps_earlier_ones() -> None:
    source = layer(
        member("late", b"a", mtime=LATER),
        member("early", b"b", mtime=EARLIER),
        member("exact", b"c", mtime=EPOCH),
        member("late-fraction", b"d", mtime=EPOCH + 0.75),
    )
    clamped = read_layer(clamp(source)[1])
    assert {name: info.mtime for name, (info, _) in clamped.items()} == {
        "late": EPOCH,
        "early": EARLIER,
        "exact": EPOCH,
        "late-fraction": EPOCH,
    }


def test_clamp_layer_returns_the_sha256_of_exactly_the_bytes_it_wrote() -> None:
    target = io.BytesIO(b"")
    diff_id = normalize.clamp_layer(io.BytesIO(rich_layer()), target, EPOCH)
    assert diff_id == "sha256:" + sha256(target.getvalue())
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", diff_id)


def test_clamp_layer_keeps_contents_modes_and_owners() -> None:
    clamped = read_layer(clamp(rich_layer())[1])
    conf, conf_data = clamped["etc/app.conf"]
    ping, ping_data = clamped["usr/bin/ping"]
    assert (conf_data, conf.mode, conf.uid, conf.gid) == (b"workers = 4\n", 0o640, 1000, 1001)
    assert (ping_data, ping.mode, ping.uid, ping.gid) == (b"\x7fELF ping", 0o4755, 0, 0)


def test_clamp_layer_keeps_directories_symlinks_and_hard_links() -> None:
    clamped = read_layer(clamp(rich_layer())[1])
    directory, symlink, hardlink = (clamped[n][0] for n in ("etc", "usr/bin/sh", "usr/bin/ping6"))
    assert (directory.isdir(), directory.mode) == (True, 0o755)
    assert (symlink.issym(), symlink.linkname) == (True, "/bin/dash")
    assert (hardlink.islnk(), hardlink.linkname) == (True, "usr/bin/ping")


def test_clamp_layer_keeps_whiteouts_and_opaque_markers() -> None:
    clamped = read_layer(clamp(rich_layer())[1])
    for name in ("var/cache/.wh.stale", "opt/app/.wh..wh..opq"):
        info, data = clamped[name]
        assert (info.isfile(), info.size, data) == (True, 0, b"")


def test_clamp_layer_keeps_extended_attributes() -> None:
    ping = read_layer(clamp(rich_layer())[1])["usr/bin/ping"][0]
    assert ping.pax_headers == XATTR


def test_clamp_layer_drops_pax_access_and_change_times() -> None:
    source = rich_layer()
    assert {"atime", "ctime"} <= read_layer(source)["etc/app.conf"][0].pax_headers.keys()
    conf = read_layer(clamp(source)[1])["etc/app.conf"][0]
    assert not {"atime", "ctime", "mtime"} & conf.pax_headers.keys()


def test_clamp_layer_keeps_the_member_order() -> None:
    source = layer(*(member(name, name.encode()) for name in ("zeta", "alpha", "mid", "beta")))
    assert list(read_layer(clamp(source)[1])) == ["zeta", "alpha", "mid", "beta"]


def test_layers_differing_only_in_mtimes_after_the_epoch_clamp_to_identical_bytes() -> None:
    first, second = rich_layer(LATER, "1700090000.25"), rich_layer(LATER + 3_600, "1700099999.5")
    assert first != second
    assert clamp(first) == clamp(second)


def test_layers_differing_in_mtimes_before_the_epoch_keep_different_diff_ids() -> None:
    assert clamp(rich_layer(EARLIER))[0] != clamp(rich_layer(EARLIER - 1))[0]


def test_clamp_layer_keeps_a_path_longer_than_100_characters() -> None:
    assert len(LONG_PATH) > 100
    info, data = read_layer(clamp(rich_layer())[1])[LONG_PATH]
    assert (info.mtime, data) == (EPOCH, b"print('deep')\n")


# --- normalized_config ------------------------------------------------------------------------


def image_config(created: str = "2024-05-01T10:11:12.123456789Z") -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin", "PYTHONDONTWRITEBYTECODE=1"],
            "Labels": {"org.opencontainers.image.revision": "f" * 40},
            "Cmd": ["python", "-m", "ner_app"],
        },
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD rootfs /"},
            {"created": created, "created_by": "COPY app /app # buildkit", "comment": "buildkit"},
            {"created": created, "created_by": "ENV X=1", "empty_layer": True},
        ],
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64, "sha256:" + "2" * 64]},
    }


def test_normalized_config_sets_created_and_every_history_time_to_the_epoch() -> None:
    config = normalize.normalized_config(image_config(), ["sha256:" + "a" * 64], EPOCH)
    assert config["created"] == EPOCH_ISO
    assert [step["created"] for step in config["history"]] == [EPOCH_ISO] * 3


def test_normalized_config_replaces_the_diff_ids_and_keeps_the_rootfs_type() -> None:
    diff_ids = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
    config = normalize.normalized_config(image_config(), diff_ids, EPOCH)
    assert config["rootfs"] == {"type": "layers", "diff_ids": diff_ids}


def test_normalized_config_keeps_every_other_key() -> None:
    original = image_config()
    config = normalize.normalized_config(original, [], EPOCH)
    assert config["config"] == original["config"]
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert [{k: v for k, v in s.items() if k != "created"} for s in config["history"]] == [
        {k: v for k, v in s.items() if k != "created"} for s in original["history"]
    ]


def test_normalized_config_does_not_change_its_input() -> None:
    original = image_config()
    before = copy.deepcopy(original)
    normalize.normalized_config(original, ["sha256:" + "a" * 64], EPOCH)
    assert original == before


# --- normalize_archive ------------------------------------------------------------------------


def save_archive(path: Path, layers: list[bytes], created: str) -> Path:
    """Write a `docker save` archive of one image with these layers, as Docker 20.10 does."""
    config = image_config(created)
    config["rootfs"]["diff_ids"] = ["sha256:" + sha256(data) for data in layers]
    config_bytes = json.dumps(config).encode()
    names = [f"{sha256(data)}/layer.tar" for data in layers]
    manifest = [{"Config": f"{sha256(config_bytes)}.json", "RepoTags": ["x:1"], "Layers": names}]
    files = [(f"{sha256(config_bytes)}.json", config_bytes)]
    files += [*zip(names, layers, strict=True), ("manifest.json", json.dumps(manifest).encode())]
    with tarfile.open(path, "w") as archive:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), LATER
            archive.addfile(info, io.BytesIO(data))
    return path


def two_layers(mtime: float = LATER, content: bytes = b"workers = 4\n") -> list[bytes]:
    return [
        rich_layer(mtime),
        layer(member("app/settings.toml", content, mtime=mtime, pax={"atime": str(mtime)})),
    ]


def normalized(tmp_path: Path, name: str, layers: list[bytes], created: str, epoch: int) -> str:
    saved = save_archive(tmp_path / f"{name}-saved.tar", layers, created)
    return normalize.normalize_archive(saved, tmp_path / f"{name}.tar", epoch, TAGS)


def read_archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {
            info.name: archive.extractfile(info).read()  # type: ignore[union-attr]
            for info in archive
            if info.isfile()
        }


def test_normalize_archive_returns_a_sha256_image_id(tmp_path: Path) -> None:
    image_id = normalized(tmp_path, "a", two_layers(), "2024-05-01T10:11:12Z", EPOCH)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)


def test_normalize_archive_names_a_config_that_hashes_to_the_image_id(tmp_path: Path) -> None:
    image_id = normalized(tmp_path, "a", two_layers(), "2024-05-01T10:11:12Z", EPOCH)
    files = read_archive(tmp_path / "a.tar")
    manifest = json.loads(files["manifest.json"])
    assert len(manifest) == 1
    assert manifest[0]["Config"] == image_id.removeprefix("sha256:") + ".json"
    assert "sha256:" + sha256(files[manifest[0]["Config"]]) == image_id
    assert manifest[0]["RepoTags"] == TAGS


def test_normalize_archive_names_layers_by_the_diff_ids_they_hash_to(tmp_path: Path) -> None:
    normalized(tmp_path, "a", two_layers(), "2024-05-01T10:11:12Z", EPOCH)
    files = read_archive(tmp_path / "a.tar")
    manifest = json.loads(files["manifest.json"])[0]
    diff_ids = json.loads(files[manifest["Config"]])["rootfs"]["diff_ids"]
    assert len(manifest["Layers"]) == len(diff_ids) == 2
    for name, diff_id in zip(manifest["Layers"], diff_ids, strict=True):
        assert name == diff_id.removeprefix("sha256:") + "/layer.tar"
        assert "sha256:" + sha256(files[name]) == diff_id


def test_normalize_archive_clamps_the_layers_and_the_config_times(tmp_path: Path) -> None:
    normalized(tmp_path, "a", two_layers(), "2024-05-01T10:11:12Z", EPOCH)
    files = read_archive(tmp_path / "a.tar")
    manifest = json.loads(files["manifest.json"])[0]
    config = json.loads(files[manifest["Config"]])
    assert [config["created"], *(step["created"] for step in config["history"])] == [EPOCH_ISO] * 4
    mtimes = {info.mtime for n in manifest["Layers"] for info, _ in read_layer(files[n]).values()}
    assert mtimes == {EPOCH}


def test_archives_differing_only_in_times_after_the_epoch_get_the_same_id(tmp_path: Path) -> None:
    first = normalized(tmp_path, "a", two_layers(LATER), "2024-05-01T10:11:12Z", EPOCH)
    second = normalized(tmp_path, "b", two_layers(LATER + 60), "2024-06-02T01:02:03Z", EPOCH)
    assert (tmp_path / "a-saved.tar").read_bytes() != (tmp_path / "b-saved.tar").read_bytes()
    assert first == second


def test_a_different_epoch_gives_a_different_id(tmp_path: Path) -> None:
    first = normalized(tmp_path, "a", two_layers(), "2024-05-01T10:11:12Z", EPOCH)
    second = normalized(tmp_path, "b", two_layers(), "2024-05-01T10:11:12Z", EPOCH + 1)
    assert first != second


def test_different_file_contents_give_a_different_id(tmp_path: Path) -> None:
    first = normalized(tmp_path, "a", two_layers(content=b"one"), "2024-05-01T10:11:12Z", EPOCH)
    second = normalized(tmp_path, "b", two_layers(content=b"two"), "2024-05-01T10:11:12Z", EPOCH)
    assert first != second


# --- per-layer epochs: cached and clean builds agree ------------------------------------------

FILES_AT = EPOCH - 3600  # the time the build gave this layer's files (the lock's commit, say)


def built_layer(stamp: float) -> bytes:
    """A layer whose files carry FILES_AT and whose directory and whiteout carry the build time."""
    return layer(
        member("opt", kind=tarfile.DIRTYPE, mtime=stamp, mode=0o755),
        member("opt/venv", kind=tarfile.DIRTYPE, mtime=stamp, mode=0o755),
        member("opt/venv/module.py", b"x = 1\n", mtime=FILES_AT),
        member("usr/share/.wh.python-wheels", mtime=stamp),
    )


def test_layer_epoch_is_the_newest_regular_file_whiteouts_aside() -> None:
    data = built_layer(stamp=FILES_AT + 500)
    assert normalize.layer_epoch(io.BytesIO(data), EPOCH) == FILES_AT
    assert normalize.layer_epoch(io.BytesIO(data), FILES_AT - 1) == FILES_AT - 1


def test_layer_epoch_of_a_layer_without_files_is_the_ceiling() -> None:
    only_dirs = layer(member("tmp", kind=tarfile.DIRTYPE, mtime=FILES_AT + 5))
    assert normalize.layer_epoch(io.BytesIO(only_dirs), EPOCH) == EPOCH


def test_a_cached_layer_stamped_before_the_commit_normalizes_like_a_clean_one(
    tmp_path: Path,
) -> None:
    cached = built_layer(stamp=FILES_AT + 600)  # built earlier, before HEAD's commit time
    clean = built_layer(stamp=EPOCH + 600)  # built now, after it
    base = rich_layer(EARLIER)
    first = normalized(tmp_path, "cached", [base, cached], "2024-01-01T00:00:00Z", EPOCH)
    second = normalized(tmp_path, "clean", [base, clean], "2025-01-01T00:00:00Z", EPOCH)
    assert first == second


def test_the_base_layers_are_kept_byte_for_byte(tmp_path: Path) -> None:
    base = layer(member("etc/late", b"1", mtime=EPOCH + 10))  # would be clamped if rewritten
    saved = save_archive(tmp_path / "saved.tar", [base, built_layer(EPOCH + 1)], EPOCH_ISO)
    out = tmp_path / "out.tar"
    normalize.normalize_archive(saved, out, EPOCH, TAGS, keep_layers=1)
    files = read_archive(out)
    assert files[f"{sha256(base)}/layer.tar"] == base
