"""What is, and is not, inside the image."""

from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path

from ner_build import inventory
from ner_build.docker import Docker
from ner_build.result import BuildResult

from tests.integration.conftest import ROOT, StartApp, run_in

PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\n(.+?)\n-----END CERTIFICATE-----", re.S)


def test_installed_distributions_are_exactly_the_lock_plus_app_and_model(
    image: str, built: BuildResult
) -> None:
    found = inventory.read_image(Docker.from_string(os.environ.get("DOCKER", "docker")), image)
    assert inventory.lock_differences(found, ROOT / "poetry.lock") == []
    model = next(d for d in found.distributions if d.name == built.model)
    assert model.sha256 == built.model_sha256


def test_contains_no_build_tools_caches_or_apt_lists(start_app: StartApp) -> None:
    container = start_app(wait_path=None)
    for tool in ("pip", "pip3", "poetry", "uv", "gcc", "cc", "curl"):
        assert run_in(container, "sh", "-c", f"command -v {tool}")[0] != 0, (
            f"{tool} is in the image"
        )
    assert run_in(container, "python", "-c", "import pip")[0] != 0
    _code, listing = run_in(
        container,
        "sh",
        "-c",
        "ls -A /var/lib/apt/lists /root/.cache /opt/uv /tmp/requirements.txt /tmp/model /tmp/app"
        " 2>/dev/null",
    )
    assert listing.split() in ([], ["/var/lib/apt/lists:"], ["/var/lib/apt/lists:", "partial"]), (
        listing
    )


def test_the_build_ca_bundle_is_in_no_layer(
    start_app: StartApp, built: BuildResult, tmp_path: Path
) -> None:
    assert built.ca_bundle, "the image was built without --ca-bundle; build with one to prove this"
    container = start_app(wait_path=None)
    image_bundle = run_in(container, "cat", "/etc/ssl/certs/ca-certificates.crt")[1].encode()
    build_only = set(PEM.findall(Path(built.ca_bundle).read_bytes())) - set(
        PEM.findall(image_bundle)
    )
    assert build_only, "every certificate of the build's CA bundle is a public CA of the image"
    needles = [body.replace(b"\n", b"")[:64] for body in build_only]
    exported = tmp_path / "rootfs.tar"
    with exported.open("wb") as out:
        for chunk in container.get_wrapped_container().export():
            out.write(chunk)
    with tarfile.open(exported) as rootfs:
        for member in rootfs:
            if member.isfile() and member.size < 50_000_000:
                data = rootfs.extractfile(member).read().replace(b"\n", b"")  # type: ignore[union-attr]
                found = [needle for needle in needles if needle in data]
                assert not found, f"{member.name} holds a certificate of the build's CA bundle"


NEVER_LOADED = (
    "/opt/venv/share/jupyter",  # pydeck's Jupyter extension and its 19 MB source map
    "/usr/local/lib/python3*/site-packages/pip",
    "/opt/venv/lib/python3*/site-packages/pyarrow/libarrow_python.so",
    "/opt/venv/lib/python3*/site-packages/pyarrow/libarrow_python.so.*.*.*",
    "/opt/venv/lib/python3*/site-packages/pyarrow/*flight*",
)


def test_files_the_app_never_loads_are_not_shipped(start_app: StartApp) -> None:
    container = start_app(wait_path=None)
    probe = f"import glob; print([p for g in {NEVER_LOADED!r} for p in glob.glob(g)])"
    assert run_in(container, "python", "-c", probe)[1].strip() == "[]"
