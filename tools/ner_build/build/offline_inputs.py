"""The build's offline inputs: where a bundle's sources keep their .debs and wheels, and how a
build puts them into its context (build/image/offline/, which the Dockerfile's builder copies).

Only the standard library is used here: a rebuild from a bundle runs with the tools' venv alone.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ner_build.errors import CheckFailed

# The layout of a bundle's sources/ (ner_build.release.sources writes it,
# ner_build.proofs.rebuild reads it).
GIT_BUNDLE = Path("ner-app.git")
IMAGE_WHEELS = Path("wheels/image")  # the lock's main group and uv, for the base's Python
TOOL_WHEELS = Path("wheels/tools")  # tools/bootstrap/requirements.txt, for the host's Python
DEBS = Path("debs")  # what the builder installs with apt (binutils and its dependencies)
MODEL = Path("model")  # the model wheel the image was built with
BASE_ARCHIVE = Path("base-image.tar")  # `docker save` of the base image, by ID
BASE_RECORD = Path("base-image.json")  # {"ref": what it was built on, "id": its image ID}
REBUILD_SCRIPT = Path("rebuild.sh")

# In the build context: what the Dockerfile's builder stage reads from (see docker/Dockerfile).
NOTE = (
    "Empty on purpose: this build fetches the .debs and wheels from Debian and PyPI.\n"
    "A rebuild from a bundle's sources (ner_build.proofs.rebuild) puts them here instead.\n"
)
MAKE_BUNDLE_HINT = "make one with `nox -s bundle -- --with-sources` where the image was built."


def check(sources: Path) -> None:
    """Fail unless sources holds the .debs and the image's wheels."""
    for folder, pattern in ((IMAGE_WHEELS, "*.whl"), (DEBS, "*.deb")):
        if not any((sources / folder).glob(pattern)):
            raise CheckFailed(
                f"{sources / folder} holds no {pattern}: {sources} is not a bundle's complete "
                f"sources/ folder; {MAKE_BUNDLE_HINT}"
            )


def prepare(target: Path, sources: Path | None) -> None:
    """Fill the context's offline/ folder: a note only for a normal build (the builder then
    fetches), or the .debs and image wheels of a bundle's sources/ (then it fetches nothing).
    The folder always exists: the Dockerfile copies it."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if sources is None:
        (target / "README").write_text(NOTE)
        return
    check(sources)
    _link_files(sources / IMAGE_WHEELS, target / "wheels", "*.whl")
    _link_files(sources / DEBS, target / "debs", "*.deb")


def _link_files(source: Path, target: Path, pattern: str) -> None:
    """Hard-link (else copy) the files matching pattern: the wheelhouse is hundreds of MB."""
    target.mkdir(parents=True)
    for path in sorted(source.glob(pattern)):
        try:
            os.link(path, target / path.name)
        except OSError:
            shutil.copy2(path, target / path.name)
