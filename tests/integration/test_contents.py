"""What is, and is not, inside the image."""

from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path

from ner_build.build import inventory
from ner_build.engine.docker import Docker
from ner_build.result import BuildResult

from tests.integration.conftest import ROOT, StartApp, python_in, read_in

PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\n(.+?)\n-----END CERTIFICATE-----", re.S)


def test_installed_distributions_are_exactly_the_lock_plus_app_and_model(
    image: str, built: BuildResult
) -> None:
    found = inventory.read_image(Docker.from_string(os.environ.get("DOCKER", "docker")), image)
    assert inventory.lock_differences(found, ROOT / "poetry.lock") == []
    model = next(d for d in found.distributions if d.name == built.model)
    assert model.sha256 == built.model_sha256


TOOLS = ("sh", "bash", "dash", "apt", "apt-get", "dpkg", "perl", "pip", "pip3", "poetry", "uv",
         "gcc", "cc", "curl", "ls", "cat")  # fmt: skip
LEFTOVERS = ("/var/lib/apt", "/var/cache/apt", "/root/.cache", "/opt/uv", "/tmp/requirements.txt",
             "/tmp/model", "/tmp/app", "/opt/rootfs.py", "/rootfs")  # fmt: skip


def test_contains_no_shell_package_manager_build_tools_or_caches(start_app: StartApp) -> None:
    container = start_app(wait_path=None)
    probe = (
        "import os, shutil; "
        f"print([t for t in {TOOLS!r} if shutil.which(t, path='/bin:/sbin:/usr/bin:/usr/sbin:"
        f"/usr/local/bin:/opt/venv/bin')] + [p for p in {LEFTOVERS!r} if os.path.lexists(p)])"
    )
    assert python_in(container, probe)[1].strip() == "[]"
    assert python_in(container, "import pip")[0] != 0


def test_scanners_can_tell_which_debian_packages_it_holds(start_app: StartApp) -> None:
    container = start_app(wait_path=None)
    listing = "import os; print(sorted(os.listdir('/var/lib/dpkg/status.d')))"
    packages = python_in(container, listing)[1]
    assert "'libc6'" in packages
    assert "'libssl3'" in packages
    assert "Status: install ok installed" in read_in(container, "/var/lib/dpkg/status.d/libc6")


def test_the_build_ca_bundle_is_in_no_layer(
    start_app: StartApp, built: BuildResult, tmp_path: Path
) -> None:
    assert built.ca_bundle, "the image was built without --ca-bundle; build with one to prove this"
    container = start_app(wait_path=None)
    image_bundle = read_in(container, "/etc/ssl/certs/ca-certificates.crt").encode()
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
    assert python_in(container, probe)[1].strip() == "[]"
