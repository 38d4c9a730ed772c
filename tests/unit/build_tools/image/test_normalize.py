"""The canonical image (ner_build.image.normalize): every rule in RULES, proven on layers written
the
way each engine writes them."""

import copy
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
from ner_build.image import normalize

from ..support import with_raw_mode

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
    names: tuple[str, str] = ("root", "root"),
    linkname: str = "",
    pax: dict[str, str] | None = None,
) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mtime, info.mode, info.linkname = kind, mtime, mode, linkname
    info.uid, info.gid = owner
    info.uname, info.gname = names
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.pax_headers = dict(pax or {})
    return info, data


def layer(*members: Member) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def canonical(data: bytes, epoch: int = EPOCH) -> tuple[str | None, bytes]:
    target = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as source:
        diff_id = normalize.write_canonical_layer(source, target, epoch)
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
        member("var/cache/.wh.stale", mtime=mtime, mode=0o600),
        member("opt/app/.wh..wh..opq", mtime=mtime, mode=0o600),
        member(LONG_PATH, b"print('deep')\n", mtime=mtime),
    )


def as_buildah_writes_it(data: bytes) -> bytes:
    """The same layer as Podman (buildah) writes it: file-type bits in the mode, no user and
    group names, './' names, reverse order, whiteouts with mode 0, and its mount points."""
    members, raw_modes = [], {}
    for info, content in reversed(list(read_layer(data).values())):
        info = copy.copy(info)
        info.name = "./" + info.name
        kind_bits = 0o040000 if info.isdir() else 0o100000 if info.isfile() else 0o120000
        info.mode = 0 if ".wh." in info.name else info.mode
        raw_modes[info.name] = info.mode | kind_bits
        info.uname = info.gname = ""
        info.pax_headers = dict(info.pax_headers)
        members.append((info, content or b""))
    mount_points = [
        member("etc/hosts", mode=0o755, mtime=LATER + 99),
        member("run", kind=tarfile.DIRTYPE, mode=0o755, mtime=LATER + 99),
    ]
    written = layer(*mount_points, *members)
    for name, mode in raw_modes.items():
        if len(name) < 100:
            written = with_raw_mode(written, name, mode)
    return written


# --- the layer encoding -----------------------------------------------------------------------


def test_the_same_files_as_buildkit_and_buildah_write_them_give_one_diff_id() -> None:
    buildkit, buildah = rich_layer(), as_buildah_writes_it(rich_layer())
    assert buildkit != buildah
    assert canonical(buildkit) == canonical(buildah)


def test_the_canonical_encoding_is_stable_byte_for_byte() -> None:
    """A golden digest: a change in the encoding (or in Python's tarfile) changes every image
    ID, so it must be deliberate (and this digest updated with it)."""
    assert canonical(rich_layer())[0] == (
        "sha256:c5bd4996a4c91975dfef8494c06cfd5e831919ba64c5f0d1eb9c308d5df62d10"
    )


def test_members_are_sorted_by_path() -> None:
    source = layer(*(member(name, name.encode()) for name in ("zeta", "alpha", "mid", "beta")))
    assert list(read_layer(canonical(source)[1])) == ["alpha", "beta", "mid", "zeta"]


def test_names_lose_leading_dot_slash_and_trailing_slash() -> None:
    source = layer(member("./etc/", kind=tarfile.DIRTYPE), member("./etc/a", b"a"))
    assert list(read_layer(canonical(source)[1])) == ["etc", "etc/a"]


def test_modes_lose_their_file_type_bits_and_keep_setuid_and_permissions() -> None:
    source = with_raw_mode(layer(member("bin/ping", b"x", mode=0o4755)), "bin/ping", 0o104755)
    assert read_layer(source)["bin/ping"][0].mode == 0o104755
    assert read_layer(canonical(source)[1])["bin/ping"][0].mode == 0o4755


def test_user_and_group_names_are_emptied_and_numeric_owners_kept() -> None:
    source = layer(member("a", b"a", owner=(1000, 1001), names=("app", "staff")))
    info = read_layer(canonical(source)[1])["a"][0]
    assert (info.uname, info.gname, info.uid, info.gid) == ("", "", 1000, 1001)


def test_extended_attributes_are_kept_and_other_pax_records_dropped() -> None:
    found = read_layer(canonical(rich_layer())[1])
    assert found["usr/bin/ping"][0].pax_headers == XATTR
    assert found["etc/app.conf"][0].pax_headers == {}


def test_contents_modes_owners_and_link_targets_are_kept() -> None:
    found = read_layer(canonical(rich_layer())[1])
    conf, conf_data = found["etc/app.conf"]
    assert (conf_data, conf.mode, conf.uid, conf.gid) == (b"workers = 4\n", 0o640, 1000, 1001)
    symlink = found["usr/bin/sh"][0]
    assert (symlink.issym(), symlink.linkname) == (True, "/bin/dash")
    assert found[LONG_PATH][1] == b"print('deep')\n"


def test_a_hard_link_group_is_led_by_its_first_path_in_sorted_order() -> None:
    source = layer(
        member("usr/bin/zz-python", b"\x7fELF py", mode=0o755),
        member("usr/bin/aa-python", kind=tarfile.LNKTYPE, linkname="usr/bin/zz-python"),
    )
    found = read_layer(canonical(source)[1])
    leader, link = found["usr/bin/aa-python"], found["usr/bin/zz-python"]
    assert (leader[0].isfile(), leader[1], leader[0].mode) == (True, b"\x7fELF py", 0o755)
    assert (link[0].islnk(), link[0].linkname) == (True, "usr/bin/aa-python")


def test_a_hard_link_to_a_file_below_the_layer_is_kept_as_it_is() -> None:
    source = layer(member("b", kind=tarfile.LNKTYPE, linkname="in/a/lower/layer"))
    info = read_layer(canonical(source)[1])["b"][0]
    assert (info.islnk(), info.linkname) == (True, "in/a/lower/layer")


def test_whiteouts_get_mode_0_owner_0_and_the_layer_time() -> None:
    found = read_layer(canonical(rich_layer())[1])
    for name in ("var/cache/.wh.stale", "opt/app/.wh..wh..opq"):
        info, data = found[name]
        assert (info.isfile(), info.size, data, info.mode, info.uid) == (True, 0, b"", 0, 0)


# --- times ------------------------------------------------------------------------------------


def test_later_mtimes_are_clamped_to_the_epoch_and_earlier_ones_kept() -> None:
    source = layer(
        member("late", b"a", mtime=LATER),
        member("early", b"b", mtime=EARLIER),
        member("late-fraction", b"d", mtime=EPOCH + 0.75),
    )
    found = read_layer(canonical(source)[1])
    assert {name: info.mtime for name, (info, _) in found.items()} == {
        "early": EARLIER,
        "late": EPOCH,
        "late-fraction": EPOCH,
    }


def test_layers_differing_only_in_mtimes_after_the_epoch_are_identical() -> None:
    assert canonical(rich_layer(LATER)) == canonical(rich_layer(LATER + 3_600, "1700099999.5"))


def test_layers_differing_in_mtimes_before_the_epoch_keep_different_diff_ids() -> None:
    assert canonical(rich_layer(EARLIER))[0] != canonical(rich_layer(EARLIER - 1))[0]


FILES_AT = EPOCH - 3600  # the time the build gave this layer's files (the lock's commit, say)


def built_layer(stamp: float) -> bytes:
    """A layer whose files carry FILES_AT and whose directory and whiteout carry the build time."""
    return layer(
        member("opt", kind=tarfile.DIRTYPE, mtime=stamp, mode=0o755),
        member("opt/venv", kind=tarfile.DIRTYPE, mtime=stamp, mode=0o755),
        member("opt/venv/module.py", b"x = 1\n", mtime=FILES_AT),
        member("usr/share/.wh.python-wheels", mtime=stamp),
    )


def test_directories_stamped_by_the_build_take_the_layers_newest_file_time() -> None:
    found = read_layer(canonical(built_layer(EPOCH + 600))[1])
    assert found["opt"][0].mtime == found["opt/venv"][0].mtime == FILES_AT


def test_a_cached_and_a_clean_build_of_the_same_files_agree() -> None:
    assert canonical(built_layer(FILES_AT + 600)) == canonical(built_layer(EPOCH + 600))


def test_a_mount_point_does_not_count_as_the_layers_newest_file() -> None:
    with_hosts = layer(member("etc/hosts", mtime=EPOCH - 10), *read_members(built_layer(EPOCH)))
    assert canonical(with_hosts) == canonical(built_layer(EPOCH))


def read_members(data: bytes) -> list[Member]:
    return [(info, content or b"") for info, content in read_layer(data).values()]


# --- mount points and empty layers ------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(normalize.MOUNT_POINT_FILES))
def test_runtime_mount_point_files_are_dropped(path: str) -> None:
    found = read_layer(canonical(layer(member(path, b"127.0.0.1 x\n"), member("a", b"a")))[1])
    assert list(found) == ["a"]


def test_mount_point_directories_are_dropped_when_nothing_in_the_layer_is_inside() -> None:
    source = layer(member("run", kind=tarfile.DIRTYPE), member("etc/a", b"a"))
    assert list(read_layer(canonical(source)[1])) == ["etc/a"]


def test_mount_point_directories_with_content_in_the_layer_are_kept() -> None:
    source = layer(member("run", kind=tarfile.DIRTYPE), member("run/app.pid", b"1"))
    assert list(read_layer(canonical(source)[1])) == ["run", "run/app.pid"]


def test_a_layer_with_nothing_left_is_empty() -> None:
    assert canonical(layer()) == (None, b"")
    assert canonical(layer(member("etc/hosts"), member("run", kind=tarfile.DIRTYPE)))[0] is None


# --- the config -------------------------------------------------------------------------------

BASE_DIFF, DIFF_A, DIFF_B = ("sha256:" + c * 64 for c in "0ab")


def buildkit_config(created: str = "2024-05-01T10:11:12.123456789Z") -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"],
            "Labels": {"org.opencontainers.image.revision": "f" * 40, "io.ner-app.fallbacks": ""},
            "Entrypoint": ["python", "-m", "ner_app"],
            "OnBuild": None,
        },
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "debuerreotype"},
            {"created": created, "created_by": "ENV X=1", "empty_layer": True},
            {"created": created, "created_by": "COPY app /app # buildkit", "comment": "buildkit"},
        ],
        "rootfs": {"type": "layers", "diff_ids": [BASE_DIFF, DIFF_A]},
    }


def podman_config() -> dict[str, Any]:
    """The same image as Podman 4 describes it."""
    config = buildkit_config("2024-06-01T00:00:00.5Z")
    run = config["config"]
    run["Env"] = list(reversed(run["Env"]))
    run["Labels"] = {**run["Labels"], "io.buildah.version": "1.28.2"}
    run |= {"Hostname": "8f3c2997e284", "Domainname": "", "Cmd": [], "Volumes": {}, "Tty": False}
    run |= {"Image": "", "OnBuild": []}
    config |= {"container": "6f1c", "container_config": dict(run), "parent": "sha256:1"}
    config["history"][2] = {"created": "x", "created_by": "/bin/sh -c #(nop) COPY dir:1d4 in /"}
    return config


def test_the_config_of_buildkit_and_podman_is_one_canonical_config() -> None:
    ours = normalize.canonical_config(buildkit_config(), [BASE_DIFF, DIFF_A], 1, EPOCH)
    theirs = normalize.canonical_config(podman_config(), [BASE_DIFF, DIFF_A], 1, EPOCH)
    assert ours == theirs


def test_the_canonical_config_keeps_what_a_container_uses() -> None:
    config = normalize.canonical_config(buildkit_config(), [BASE_DIFF, DIFF_A], 1, EPOCH)
    assert config["config"] == {
        "Entrypoint": ["python", "-m", "ner_app"],
        "Env": ["LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin"],
        "Labels": {"io.ner-app.fallbacks": "", "org.opencontainers.image.revision": "f" * 40},
    }
    assert (config["architecture"], config["os"], config["created"]) == (
        "amd64",
        "linux",
        EPOCH_ISO,
    )
    assert config["rootfs"] == {"type": "layers", "diff_ids": [BASE_DIFF, DIFF_A]}


def test_env_keeps_the_last_value_of_a_repeated_name() -> None:
    run = normalize.canonical_run_config({"Env": ["A=1", "B=2", "A=3"]})
    assert run["Env"] == ["A=3", "B=2"]


def test_history_keeps_the_base_and_has_one_entry_per_layer_above_it() -> None:
    config = normalize.canonical_config(buildkit_config(), [BASE_DIFF, DIFF_A, DIFF_B], 1, EPOCH)
    assert [step["created_by"] for step in config["history"]] == [
        "debuerreotype",
        "ner-app layer 2 (docker/Dockerfile, runtime stage)",
        "ner-app layer 3 (docker/Dockerfile, runtime stage)",
    ]
    assert {step["created"] for step in config["history"]} == {EPOCH_ISO}


def test_the_canonical_config_does_not_change_its_input() -> None:
    original = podman_config()
    before = copy.deepcopy(original)
    normalize.canonical_config(original, [BASE_DIFF, DIFF_A], 1, EPOCH)
    assert original == before


# --- normalize_archive ------------------------------------------------------------------------


def save_archive(path: Path, layers: list[bytes], config: dict[str, Any] | None = None) -> Path:
    """Write a `docker save` archive of one image with these layers, as Docker 20.10 does."""
    config = copy.deepcopy(config or buildkit_config())
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


def base_layer() -> bytes:
    return layer(member("etc/os-release", b"Debian\n", mtime=EPOCH + 10))  # later than EPOCH


def app_layer(mtime: float = LATER, content: bytes = b"workers = 4\n") -> bytes:
    return layer(member("app/settings.toml", content, mtime=mtime, pax={"atime": str(mtime)}))


def normalized(tmp_path: Path, name: str, layers: list[bytes], **kwargs: Any) -> str:
    saved = save_archive(tmp_path / f"{name}-saved.tar", layers, kwargs.pop("config", None))
    epoch = kwargs.pop("epoch", EPOCH)
    return normalize.normalize_archive(saved, tmp_path / f"{name}.tar", epoch, TAGS, 1)


def read_archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {
            info.name: archive.extractfile(info).read()  # type: ignore[union-attr]
            for info in archive
            if info.isfile()
        }


def test_normalize_archive_writes_a_config_that_hashes_to_the_image_id(tmp_path: Path) -> None:
    image_id = normalized(tmp_path, "a", [base_layer(), app_layer()])
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    files = read_archive(tmp_path / "a.tar")
    manifest = json.loads(files["manifest.json"])
    assert manifest[0]["Config"] == image_id.removeprefix("sha256:") + ".json"
    assert "sha256:" + sha256(files[manifest[0]["Config"]]) == image_id
    assert manifest[0]["RepoTags"] == TAGS


def test_normalize_archive_names_layers_by_the_diff_ids_they_hash_to(tmp_path: Path) -> None:
    normalized(tmp_path, "a", [base_layer(), app_layer()])
    files = read_archive(tmp_path / "a.tar")
    manifest = json.loads(files["manifest.json"])[0]
    diff_ids = json.loads(files[manifest["Config"]])["rootfs"]["diff_ids"]
    assert len(manifest["Layers"]) == len(diff_ids) == 2
    for name, diff_id in zip(manifest["Layers"], diff_ids, strict=True):
        assert "sha256:" + sha256(files[name]) == diff_id


def test_the_base_layers_are_kept_byte_for_byte(tmp_path: Path) -> None:
    normalized(tmp_path, "a", [base_layer(), app_layer()])
    assert read_archive(tmp_path / "a.tar")[f"{sha256(base_layer())}/layer.tar"] == base_layer()


def test_an_empty_layer_is_dropped_with_its_history(tmp_path: Path) -> None:
    with_empty = normalized(tmp_path, "a", [base_layer(), app_layer(), layer()])
    without = normalized(tmp_path, "b", [base_layer(), app_layer()])
    assert with_empty == without


def test_buildkit_and_podman_archives_of_the_same_files_get_one_image_id(tmp_path: Path) -> None:
    buildkit = normalized(tmp_path, "a", [base_layer(), rich_layer(), layer()])
    podman = normalized(
        tmp_path, "b", [base_layer(), as_buildah_writes_it(rich_layer())], config=podman_config()
    )
    assert buildkit == podman


def test_different_file_contents_give_a_different_id(tmp_path: Path) -> None:
    first = normalized(tmp_path, "a", [base_layer(), app_layer(content=b"one")])
    second = normalized(tmp_path, "b", [base_layer(), app_layer(content=b"two")])
    assert first != second


def test_a_different_epoch_gives_a_different_id(tmp_path: Path) -> None:
    first = normalized(tmp_path, "a", [base_layer(), app_layer()])
    second = normalized(tmp_path, "b", [base_layer(), app_layer()], epoch=EPOCH + 1)
    assert first != second


def test_every_rule_is_described() -> None:
    assert set(normalize.RULES) == {
        "encoding", "times", "hard links", "whiteouts", "mount points", "empty layers",
        "config", "history",
    }  # fmt: skip
