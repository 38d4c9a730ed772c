"""What a rebuild from a bundle needs, with no network: `nox -s bundle -- --with-sources`.

`add` writes BUNDLE/sources/ (layout in ner_build.build.offline_inputs):

- ner-app.git: a git bundle of the built commit (its whole history: the build takes each
  layer's time from the last commit that changed its inputs);
- wheels/image/: every distribution of the lock's main group, and uv, as the image installs
  them. pip downloads them inside a container of the base image itself, so they are chosen for
  the base's Python and platform by that Python, hash-checked against the exported lock;
- debs/: the .debs the Dockerfile's builder installs with apt (binutils and its dependencies),
  downloaded by apt inside a container of the base image, so exactly what it lacks;
- wheels/tools/: tools/bootstrap/requirements.txt (Poetry, its export plugin, nox, uv),
  hash-checked, for this host's Python;
- model/: the model wheel the image was built with (checked against its sha256);
- base-image.tar and base-image.json: the base image, saved by ID, and its ref and ID;
- rebuild.sh: the customer's entry point (POSIX sh): verify, clone, install the tools from the
  wheels, run `python -m ner_build.proofs.rebuild BUNDLE`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from ner_build import console, git, process
from ner_build.build import lockfile
from ner_build.build import offline_inputs as offline
from ner_build.digest import sha256_of
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed, VerificationFailed
from ner_build.paths import CACHE, CONTEXT, LOCK, ROOT
from ner_build.result import BuildResult

TOOLS_REQUIREMENTS = ROOT / "tools" / "bootstrap" / "requirements.txt"
REBUILD_SCRIPT = ROOT / "tools" / "bundle" / "rebuild.sh"
BUNDLE_REF = "refs/ner-app-bundle/"  # + the revision: a temporary ref, removed after bundling
BINUTILS_ARG = "ARG BINUTILS_VERSION="

# Run inside a container of the base image: pip picks each wheel for that Python and platform.
# Everything but the final tar goes to stderr.
DOWNLOAD_SCRIPT = """\
set -eu
cd /tmp/sources-in
if [ -f ca.pem ]; then export PIP_CERT=/tmp/sources-in/ca.pem; fi
python3 -m venv /tmp/sources-pip >&2
/tmp/sources-pip/bin/pip download --quiet --no-cache-dir --disable-pip-version-check \
    --require-hashes --no-deps --only-binary=:all: --dest /tmp/sources-out/wheels \
    -r requirements.txt -r uv-requirements.txt >&2
mkdir -p /tmp/sources-out/debs/partial
apt-get update -qq >&2
apt-get install -qq -y --no-install-recommends --download-only \
    -o Dir::Cache::archives=/tmp/sources-out/debs "binutils=$BINUTILS_VERSION" >&2
rm -f /tmp/sources-out/debs/lock
rmdir /tmp/sources-out/debs/partial
"""


def add(bundle: Path, result: BuildResult, docker: Docker, poetry: str) -> None:
    """Write bundle/sources/: everything an offline rebuild of result's image needs."""
    sources = bundle / "sources"
    if sources.exists():
        raise CheckFailed(f"{sources} exists already: bundle into a new folder.")
    check_tree_matches(ROOT, result.revision)
    partial = bundle / "sources.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    console.step(f"bundling commit {result.revision[:12]} with its history")
    git_bundle(ROOT, result.revision, partial / offline.GIT_BUNDLE)
    console.step("downloading the image's wheels and .debs inside the base image, hash-checked")
    download_in_base(docker, result, poetry, partial)
    console.step("downloading the tools' wheels for this host's Python, hash-checked")
    download_tools(partial / offline.TOOL_WHEELS, result.ca_bundle)
    console.step("adding the model wheel")
    add_model(partial / offline.MODEL, result.model_sha256, model_candidates())
    console.step(f"saving the base image {result.base_image}")
    save_base(docker, result, partial)
    shutil.copy2(REBUILD_SCRIPT, partial / offline.REBUILD_SCRIPT)
    partial.rename(sources)


def check_tree_matches(root: Path, revision: str) -> None:
    """The lock and pyproject.toml here must be the built commit's: they are exported again."""
    if not revision:
        raise CheckFailed("The build result names no revision: build again with `nox -s build`.")
    changed = git.run(root, "diff", "--name-only", revision, "--", "poetry.lock", "pyproject.toml")
    if changed:
        raise CheckFailed(
            f"{', '.join(changed.split())} differ from the built commit {revision[:12]}: "
            "bundle from a checkout of that commit, or build again with `nox -s build`."
        )


def git_bundle(root: Path, revision: str, out: Path) -> None:
    """A git bundle holding revision and its history, under one ref (see bundle_ref)."""
    ref = BUNDLE_REF + revision
    git.run(root, "update-ref", ref, revision)  # fails when revision is no commit here
    try:
        git.run(root, "bundle", "create", "--quiet", str(out), ref)
    finally:
        git.run(root, "update-ref", "-d", ref)


def binutils_version(dockerfile: Path) -> str:
    """The binutils version the Dockerfile's builder pins."""
    for line in dockerfile.read_text().splitlines():
        if line.startswith(BINUTILS_ARG):
            return line.removeprefix(BINUTILS_ARG).strip()
    raise CheckFailed(f"{dockerfile} has no `{BINUTILS_ARG}…` line: the builder must pin it.")


def download_in_base(docker: Docker, result: BuildResult, poetry: str, out: Path) -> None:
    """Wheels (main group and uv) and .debs, fetched by the base image's own pip and apt."""
    with tempfile.TemporaryDirectory(prefix="ner-app-sources-") as tmp:
        inputs = Path(tmp, "sources-in")
        inputs.mkdir()
        lockfile.export_main(poetry, ROOT, inputs / "requirements.txt")
        (inputs / "uv-requirements.txt").write_text(lockfile.pinned_requirement(LOCK, "uv"))
        if result.ca_bundle:
            shutil.copyfile(result.ca_bundle, inputs / "ca.pem")
        name = f"ner-app-sources-{secrets.token_hex(6)}"
        version = binutils_version(ROOT / "docker" / "Dockerfile")
        base = result.base_image_id or result.base_image
        docker.run(
            "create", f"--name={name}", f"--env=BINUTILS_VERSION={version}", "--user=0",
            "--entrypoint=sh", base, "-c", DOWNLOAD_SCRIPT, check=True,
        )  # fmt: skip
        try:
            docker.run("cp", str(inputs), f"{name}:/tmp/sources-in", check=True)
            docker.stream("start", "--attach", name, hint=DOWNLOAD_HINT)
            docker.run("cp", f"{name}:/tmp/sources-out/.", str(Path(tmp, "out")), check=True)
        finally:
            docker.run("rm", "--force", name)
        shutil.move(Path(tmp, "out", "wheels"), out / offline.IMAGE_WHEELS)
        shutil.move(Path(tmp, "out", "debs"), out / offline.DEBS)
    offline.check(out)


DOWNLOAD_HINT = (
    "pip or apt in the base image could not fetch the image's inputs: the hash check above "
    "names a file that is not the locked one, or the index or Debian mirror is not reachable "
    "(behind a TLS-intercepting proxy, build with --ca-bundle / NER_CA_BUNDLE)."
)


def download_tools(out: Path, ca_bundle: str | None) -> None:
    """The tools' wheels for this host's python3, by pip in a fresh venv, hash-checked."""
    python = shutil.which("python3")
    if not python:
        raise CheckFailed("python3 is not on PATH: the tools' wheels are fetched with it.")
    with tempfile.TemporaryDirectory(prefix="ner-app-pip-") as venv:
        process.run([python, "-m", "venv", venv], hint="Install python3-venv.")
        process.stream(
            [
                Path(venv, "bin", "pip"), "download", "--quiet", "--no-cache-dir",
                "--disable-pip-version-check", "--require-hashes", "--no-deps",
                "--only-binary=:all:", "--dest", out, "-r", TOOLS_REQUIREMENTS,
            ],
            env=pip_env(ca_bundle),
            hint=f"The tools' wheels for this Python could not be fetched: {TOOLS_REQUIREMENTS}.",
        )  # fmt: skip


def pip_env(ca_bundle: str | None) -> Mapping[str, str]:
    return {"PIP_CERT": ca_bundle} if ca_bundle else {}


def model_candidates(env: Mapping[str, str] = os.environ) -> Iterator[Path]:
    """Where the model wheel of the last build may be: the context, the cache, NER_MODEL_WHEEL."""
    yield from sorted((CONTEXT / "model").glob("*.whl"))
    yield from sorted(CACHE.glob("**/*.whl"))
    if env.get("NER_MODEL_WHEEL"):
        yield Path(env["NER_MODEL_WHEEL"])


def add_model(out: Path, sha256: str, candidates: Iterator[Path]) -> Path:
    """Copy the first candidate whose sha256 is the built model's into out."""
    for path in candidates:
        if path.is_file() and sha256_of(path) == sha256:
            out.mkdir(parents=True, exist_ok=True)
            return Path(shutil.copy2(path, out / path.name))
    raise CheckFailed(
        f"No model wheel with sha256 {sha256} found in {CONTEXT / 'model'}, {CACHE} or "
        "NER_MODEL_WHEEL: set NER_MODEL_WHEEL to the wheel the image was built with."
    )


def save_base(docker: Docker, result: BuildResult, out: Path) -> None:
    """The base image saved by its ID (so loading it re-points no tag), with its ref and ID."""
    found = docker.image_id(result.base_image_id or result.base_image)
    if not found or (result.base_image_id and found != result.base_image_id):
        raise VerificationFailed(
            f"The base image {result.base_image} ({result.base_image_id or 'no ID recorded'}) "
            f"is not in the engine behind `{docker}`: load it, or build again with `nox -s build`."
        )
    docker.save(found, out / offline.BASE_ARCHIVE)
    record = {"ref": result.base_image, "id": found}
    (out / offline.BASE_RECORD).write_text(json.dumps(record, indent=2) + "\n")
