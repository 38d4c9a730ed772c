import copy
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from ner_build.image import compare
from ner_build.image.compare import Entry, Image

from ..support import with_raw_mode

MTIME = 1_700_000_000
APP_CONF = b"workers = 4\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def info(name: str, kind: bytes = tarfile.REGTYPE, **attributes: Any) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.mtime = kind, MTIME
    for key, value in attributes.items():
        setattr(member, key, value)
    return member


def layer(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            member.size = len(data) if member.isfile() else 0
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buffer.getvalue()


def app_layer(conf: bytes = APP_CONF, mtime: int = MTIME) -> bytes:
    return layer(
        (info("etc", tarfile.DIRTYPE, mode=0o755, mtime=mtime), b""),
        (info("etc/app.conf", mode=0o640, uid=1000, gid=1001, mtime=mtime), conf),
        (info("usr/bin/sh", tarfile.SYMTYPE, linkname="/bin/dash", mtime=mtime), b""),
        (info("usr/bin/ping6", tarfile.LNKTYPE, linkname="usr/bin/ping", mtime=mtime), b""),
    )


def entries_of(data: bytes) -> dict[str, Entry]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return compare.entries(tar)


def config(diff_ids: list[str], created: str = "2023-11-14T22:13:20Z") -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "created": created,
        "config": {"Env": ["PATH=/usr/bin"], "Labels": {"revision": "f" * 40}},
        "history": [
            {"created": created, "created_by": "ADD rootfs /"},
            {"created": created, "created_by": "COPY app /app", "comment": "buildkit"},
        ],
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }


def save_archive(path: Path, layers: list[bytes], created: str = "2023-11-14T22:13:20Z") -> str:
    """Write a `docker save` archive of one image with these layers; return its config's hex."""
    config_bytes = json.dumps(config(["sha256:" + sha256(data) for data in layers], created))
    config_name = sha256(config_bytes.encode()) + ".json"
    names = [f"{sha256(data)}/layer.tar" for data in layers]
    manifest = [{"Config": config_name, "RepoTags": ["ner-app:latest"], "Layers": names}]
    files = [(config_name, config_bytes.encode()), *zip(names, layers, strict=True)]
    with tarfile.open(path, "w") as archive:
        for name, data in [*files, ("manifest.json", json.dumps(manifest).encode())]:
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return config_name.removesuffix(".json")


def entry(content: str = "c", **changes: Any) -> Entry:
    fields: dict[str, Any] = {"kind": "file", "mode": 0o644, "owner": (0, 0), "mtime": MTIME}
    return Entry(content=content, **(fields | changes))


def image(image_id: str, diff_ids: list[str], layers: list[dict[str, Entry]], **keys: Any) -> Image:
    return Image(image_id, config(diff_ids) | keys, layers)


# --- entries ----------------------------------------------------------------------------------


def test_entries_of_a_file_hash_its_content_and_keep_mode_owner_and_mtime() -> None:
    assert entries_of(app_layer())["etc/app.conf"] == Entry(
        "file", 0o640, (1000, 1001), MTIME, sha256(APP_CONF)
    )


def test_entries_of_a_directory_have_the_dir_kind_and_no_content() -> None:
    assert entries_of(app_layer())["etc"] == Entry("dir", 0o755, (0, 0), MTIME, "")


def test_entries_of_links_record_the_link_target_as_content() -> None:
    found = entries_of(app_layer())
    symlink, hardlink = found["usr/bin/sh"], found["usr/bin/ping6"]
    assert (symlink.content, hardlink.content) == ("/bin/dash", "usr/bin/ping")
    assert len({symlink.kind, hardlink.kind, "file", "dir"}) == 4


def test_entries_key_every_member_by_its_path() -> None:
    assert set(entries_of(app_layer())) == {"etc", "etc/app.conf", "usr/bin/sh", "usr/bin/ping6"}


# --- read_saved -------------------------------------------------------------------------------


def test_read_saved_takes_the_image_id_from_the_config_name(tmp_path: Path) -> None:
    config_hex = save_archive(tmp_path / "saved.tar", [app_layer(), app_layer(b"x")])
    assert compare.read_saved(tmp_path / "saved.tar").image_id == "sha256:" + config_hex


def test_read_saved_reads_the_config(tmp_path: Path) -> None:
    layers = [app_layer(), app_layer(b"x")]
    save_archive(tmp_path / "saved.tar", layers, created="2024-01-02T03:04:05Z")
    diff_ids = ["sha256:" + sha256(data) for data in layers]
    saved = compare.read_saved(tmp_path / "saved.tar")
    assert saved.config == config(diff_ids, "2024-01-02T03:04:05Z")


def test_read_saved_reads_one_entries_dict_per_layer_in_order(tmp_path: Path) -> None:
    second = layer((info("app/main.py", mode=0o644), b"print()\n"))
    save_archive(tmp_path / "saved.tar", [app_layer(), second])
    layers = compare.read_saved(tmp_path / "saved.tar").layers
    assert layers == [entries_of(app_layer()), entries_of(second)]
    assert layers[1]["app/main.py"].content == sha256(b"print()\n")


# --- layer_differences ------------------------------------------------------------------------


def test_layer_differences_reports_paths_only_in_one_side() -> None:
    difference = compare.layer_differences({"a": entry(), "same": entry()}, {"b": entry()}, 3)
    assert difference.layer == 3
    assert difference.paths == {
        "a": ["only in first"],
        "b": ["only in second"],
        "same": ["only in first"],
    }


def test_layer_differences_leaves_out_identical_paths() -> None:
    assert compare.layer_differences({"a": entry()}, {"a": entry()}, 0).paths == {}


def test_layer_differences_names_exactly_the_attributes_that_differ() -> None:
    first = {
        "content": entry("one"),
        "mode": entry(mode=0o644),
        "owner": entry(owner=(0, 0)),
        "mtime": entry(mtime=MTIME),
        "kind": entry("/x", kind="file"),
        "several": entry("one", mode=0o644, mtime=MTIME),
    }
    second = {
        "content": entry("two"),
        "mode": entry(mode=0o755),
        "owner": entry(owner=(1000, 0)),
        "mtime": entry(mtime=MTIME + 1),
        "kind": entry("/x", kind="b'2'"),
        "several": entry("two", mode=0o600, mtime=MTIME),
    }
    assert compare.layer_differences(first, second, 0).paths == {
        "content": ["content"],
        "kind": ["kind"],
        "mode": ["mode"],
        "mtime": ["mtime"],
        "owner": ["owner"],
        "several": ["content", "mode"],
    }


# --- compare ----------------------------------------------------------------------------------

ID_A, ID_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
DIFF_1, DIFF_2, DIFF_3 = ("sha256:" + c * 64 for c in "123")


def test_identical_images_give_no_lines() -> None:
    layers = [{"etc/app.conf": entry()}]
    assert list(compare.compare(image(ID_A, [DIFF_1], layers), image(ID_A, [DIFF_1], layers))) == []


def test_different_image_ids_are_reported_first() -> None:
    first = image(ID_A, [DIFF_1], [{}], created="2023-01-01T00:00:00Z")
    lines = list(compare.compare(first, image(ID_B, [DIFF_1], [{}])))
    assert lines[0] == f"image ID: {ID_A} != {ID_B}"


def test_configs_differing_only_in_created_times_are_told_apart() -> None:
    first = Image(ID_A, config([DIFF_1], "2023-01-01T00:00:00Z"), [{}])
    second = Image(ID_B, config([DIFF_1], "2024-02-02T00:00:00Z"), [{}])
    assert list(compare.compare(first, second)) == [
        f"image ID: {ID_A} != {ID_B}",
        "config differs only in its timestamps",
        '  created: "2023-01-01T00:00:00Z" != "2024-02-02T00:00:00Z"',
        '  history[0].created: "2023-01-01T00:00:00Z" != "2024-02-02T00:00:00Z"',
        '  history[1].created: "2023-01-01T00:00:00Z" != "2024-02-02T00:00:00Z"',
    ]


def test_configs_differing_beyond_their_times_are_reported_so() -> None:
    first = image(ID_A, [DIFF_1], [{}])
    second = image(ID_B, [DIFF_1], [{}], config={"Env": ["PATH=/usr/bin", "DEBUG=1"]})
    assert list(compare.compare(first, second)) == [
        f"image ID: {ID_A} != {ID_B}",
        "config differs, beyond timestamps",
        "  config.Env[1]: only in second",
        "  config.Labels.revision: only in first",
    ]


def test_only_layers_with_different_diff_ids_are_reported_with_their_paths() -> None:
    shared = {"etc/os-release": entry("debian")}
    first = image(ID_A, [DIFF_1, DIFF_2], [shared, {"app/main.py": entry("one"), "gone": entry()}])
    second = image(ID_B, [DIFF_1, DIFF_3], [{"other": entry()}, {"app/main.py": entry("two")}])
    assert list(compare.compare(first, second)) == [
        f"image ID: {ID_A} != {ID_B}",
        "config differs, beyond timestamps",
        f"layer 1: {DIFF_2} != {DIFF_3}",
        "  app/main.py: content",
        "  gone: only in first",
    ]


def test_layers_with_the_same_entries_are_told_apart_by_their_encoding() -> None:
    buildkit = layer((info("a", uname="root", gname="root"), b"a"), (info("b"), b"b"))
    buildah = with_raw_mode(
        layer((info("b", mode=0o644), b"b"), (info("a", uname="", gname=""), b"a")), "b", 0o100644
    )
    first = image(ID_A, [DIFF_1], [entries_of(buildkit)])
    second = image(ID_B, [DIFF_2], [entries_of(buildah)])
    assert list(compare.compare(first, second))[-2:] == [
        f"layer 0: {DIFF_1} != {DIFF_2}",
        "  encoding: member positions differ on 2 of 2 paths; file-type bits in the mode field "
        "differ on 1 of 2 paths; user/group names differ on 1 of 2 paths",
    ]


def test_layers_differing_in_nothing_but_their_bytes_say_so() -> None:
    first = image(ID_A, [DIFF_1], [entries_of(app_layer())])
    second = image(ID_B, [DIFF_2], [entries_of(app_layer())])
    assert list(compare.compare(first, second))[-1] == "  encoding: tar headers or padding only"


def test_a_different_layer_count_is_reported() -> None:
    first = image(ID_A, [DIFF_1], [{}])
    second = image(ID_B, [DIFF_1, DIFF_2], [{}, {"new": entry()}])
    assert "layer count: 1 != 2" in list(compare.compare(first, second))


def test_compare_reads_the_differences_of_two_saved_archives(tmp_path: Path) -> None:
    save_archive(tmp_path / "a.tar", [app_layer()])
    save_archive(tmp_path / "b.tar", [app_layer(mtime=MTIME + 5)], created="2024-01-01T00:00:00Z")
    first, second = (compare.read_saved(tmp_path / n) for n in ("a.tar", "b.tar"))
    lines = list(compare.compare(first, second))
    assert lines[0].startswith("image ID: ")
    assert lines[1] == "config differs, beyond timestamps"
    layer_line = next(i for i, line in enumerate(lines) if line.startswith("layer 0: sha256:"))
    assert lines[layer_line + 1 :] == [f"  {p}: mtime" for p in sorted(entries_of(app_layer()))]


def test_the_same_saved_archive_compares_identical(tmp_path: Path) -> None:
    save_archive(tmp_path / "a.tar", [app_layer(), app_layer(b"x")])
    saved = compare.read_saved(tmp_path / "a.tar")
    assert list(compare.compare(saved, compare.read_saved(tmp_path / "a.tar"))) == []


# --- without_times ----------------------------------------------------------------------------


def test_without_times_strips_the_top_level_and_history_created_times() -> None:
    stripped = compare.without_times(config([DIFF_1]))
    assert "created" not in stripped
    assert stripped["history"] == [
        {"created_by": "ADD rootfs /"},
        {"created_by": "COPY app /app", "comment": "buildkit"},
    ]


def test_without_times_keeps_every_other_key_and_leaves_its_input_alone() -> None:
    original = config([DIFF_1])
    before = copy.deepcopy(original)
    stripped = compare.without_times(original)
    assert {k: v for k, v in stripped.items() if k != "history"} == {
        k: v for k, v in before.items() if k not in ("created", "history")
    }
    assert original == before
