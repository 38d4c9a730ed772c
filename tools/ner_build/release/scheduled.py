"""The weekly rebuild's question: is the image built from main today different from the one
published, and how?

    python -m ner_build.release.scheduled --published REF [--summary FILE] [--github-output FILE]

It reads the image `nox -s build` just made (build/image.json and its SBOM), pulls REF (the
last published image, for the built image's platform) and compares the two: image ID and
layers (ner_build.image.compare), and the packages of their SBOMs keyed by purl without version
(Python and Debian components). It publishes when something changed, or when REF does not
exist yet (the first publish). An image that changed while no package did is published but
flagged: the same inputs should have given the same image (a reproducibility regression).
Any other failure to pull REF stops it: it never publishes blindly.

It writes a Markdown summary (the SBOM difference, the differing layers) to FILE, e.g.
$GITHUB_STEP_SUMMARY, and `changed=true|false` to $GITHUB_OUTPUT.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from debian.debian_support import Version as DebianVersion
from packageurl import PackageURL
from packaging.version import InvalidVersion
from packaging.version import Version as PythonVersion

from ner_build import console
from ner_build.build import inventory
from ner_build.engine.docker import Docker
from ner_build.errors import CheckFailed
from ner_build.image import compare
from ner_build.result import BuildResult, result_path, sbom_beside

NOT_FOUND = ("manifest unknown", "not found", "name unknown")
PATHS_PER_BLOCK = 8  # indented lines kept under each line of ner_build.image.compare's report
REVISION = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class Change:
    package: str
    old: str
    new: str


@dataclass(frozen=True)
class PackageDiff:
    """How the second SBOM's packages differ from the first's, keyed by purl without version."""

    added: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    upgraded: list[Change] = field(default_factory=list)
    downgraded: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.upgraded or self.downgraded)


@dataclass(frozen=True)
class Decision:
    publish: bool
    reason: str
    built: str
    published: str | None
    packages: PackageDiff = field(default_factory=PackageDiff)
    layers: list[str] = field(default_factory=list)
    regression: bool = False


def package_key(purl: str) -> tuple[str, str]:
    """("pkg:deb/debian/libc6?arch=amd64", "2.36-9+deb12u10") from a component's purl: the
    version and the distro qualifier (it names the point release) are not part of the key."""
    parsed = PackageURL.from_string(purl)
    qualifiers = parsed.qualifiers if isinstance(parsed.qualifiers, dict) else {}
    kept = {k: v for k, v in qualifiers.items() if k != "distro"}
    key = PackageURL(parsed.type, parsed.namespace, parsed.name, None, kept or None)
    return key.to_string(), parsed.version or ""


def packages(sbom: dict[str, Any]) -> dict[str, str]:
    """A CycloneDX SBOM's components with a purl, as key -> version."""
    return dict(
        package_key(str(component["purl"]))
        for component in sbom.get("components", [])
        if component.get("purl")
    )


def newer(key: str, old: str, new: str) -> bool:
    """Whether new is a later version than old, by the package type's own ordering."""
    if key.startswith("pkg:deb/"):
        return bool(DebianVersion(new) > DebianVersion(old))
    try:
        return PythonVersion(new) > PythonVersion(old)
    except InvalidVersion:
        return new > old


def sbom_diff(old: dict[str, Any], new: dict[str, Any]) -> PackageDiff:
    before, after = packages(old), packages(new)
    changed = [
        Change(key, before[key], after[key])
        for key in sorted(before.keys() & after.keys())
        if before[key] != after[key]
    ]
    return PackageDiff(
        added=[(key, after[key]) for key in sorted(after.keys() - before.keys())],
        removed=[(key, before[key]) for key in sorted(before.keys() - after.keys())],
        upgraded=[c for c in changed if newer(c.package, c.old, c.new)],
        downgraded=[c for c in changed if not newer(c.package, c.old, c.new)],
    )


def decide(
    built: str,
    published: str | None,
    diff: PackageDiff,
    layers: list[str],
    same_commit: bool = True,
) -> Decision:
    """Publish or not, and why: a changed image from the published commit with no package
    change is a reproducibility regression (published all the same)."""
    if published is None:
        return Decision(
            True, "first publish: nothing is published under this name yet", built, None
        )
    if built == published:
        return Decision(False, "unchanged: the rebuild is the published image", built, published)
    if diff or not same_commit:
        what = "packages differ from" if diff else "main moved on from the commit of"
        return Decision(
            True, f"changed: {what} the published image", built, published, diff, layers
        )
    reason = (
        "changed although no package did: publishing, but this is a reproducibility "
        "regression (the same inputs gave another image); see the differing layers"
    )
    return Decision(True, reason, built, published, diff, layers, regression=True)


def markdown(decision: Decision, published_ref: str) -> str:
    """The job summary: decision, the SBOM difference, the differing layers."""
    verdict = "publish" if decision.publish else "do not publish"
    lines = [
        "## Weekly rebuild",
        "",
        f"- built: `{decision.built}`",
        f"- published `{published_ref}`: `{decision.published or 'none'}`",
        f"- decision: **{verdict}**: {decision.reason}",
    ]
    if decision.regression:
        lines.append("- :warning: **reproducibility regression**: run `nox -s reproduce` on main")
    lines += _package_table(decision.packages) if decision.published else []
    if decision.layers:
        lines += ["", "### Differing layers and files", "", "```", *decision.layers, "```"]
    return "\n".join(lines) + "\n"


def _package_table(diff: PackageDiff) -> list[str]:
    if not diff:
        return ["", "### Packages", "", "No package was added, removed or changed."]
    rows = [f"| added | `{key}` | | {version} |" for key, version in diff.added]
    rows += [f"| removed | `{key}` | {version} | |" for key, version in diff.removed]
    rows += [f"| upgraded | `{c.package}` | {c.old} | {c.new} |" for c in diff.upgraded]
    rows += [f"| downgraded | `{c.package}` | {c.old} | {c.new} |" for c in diff.downgraded]
    header = ["", "### Packages", "", "| change | package | published | rebuilt |"]
    return [*header, "|---|---|---|---|", *rows]


def shorten(lines: list[str], per_block: int = PATHS_PER_BLOCK) -> list[str]:
    """compare's report with at most per_block indented lines under each top-level line."""
    kept: list[str] = []
    hidden = shown = 0
    for line in [*lines, ""]:
        if line.startswith("  "):
            shown += 1
            hidden += shown > per_block
            kept += [line] if shown <= per_block else []
            continue
        kept += [f"  ... and {hidden} more"] if hidden else []
        kept += [line] if line else []
        hidden = shown = 0
    return kept


def pull(docker: Docker, ref: str, platform: str) -> str | None:
    """The published image's ID after pulling it; None when the registry has no such image.
    Any other failure (network, authentication) raises: never publish blindly."""
    result = docker.run("pull", "--quiet", *([f"--platform={platform}"] if platform else []), ref)
    if result.returncode == 0:
        return docker.image_id(ref)
    message = result.stderr.strip()
    if any(marker in message.lower() for marker in NOT_FOUND):
        return None
    raise CheckFailed(
        f"Cannot pull the published image {ref}: {message}\nNothing was published. Check the "
        "registry login and the reference (--published), then run the rebuild again."
    )


def check(docker: Docker, result: Path, published_ref: str) -> Decision:
    built = BuildResult.load(result)
    published = pull(docker, published_ref, built.platform)
    if published is None or published == built.image_id:
        return decide(built.image_id, published, PackageDiff(), [])
    console.step(f"Reading the packages of {published_ref}")
    published_inventory = inventory.read_image(docker, published_ref)
    old = json.loads(inventory.sbom(published_inventory))
    new = json.loads(sbom_beside(result).read_text())
    console.step(f"Comparing {built.image_id} with {published_ref}")
    layers = shorten(compare.compare_images((docker, built.image_id), (docker, published_ref)))
    same_commit = published_inventory.labels.get(REVISION) == built.revision
    return decide(built.image_id, published, sbom_diff(old, new), layers, same_commit)


def command(args: argparse.Namespace) -> int:
    decision = check(Docker.from_string(args.docker), args.result, args.published)
    text = markdown(decision, args.published)
    print(text)
    if args.summary:
        with args.summary.open("a") as summary:
            summary.write(text)
    if args.github_output:
        with args.github_output.open("a") as output:
            output.write(f"changed={'true' if decision.publish else 'false'}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ner_build.release.scheduled", description=__doc__
    )
    parser.add_argument("--published", required=True, help="e.g. ghcr.io/OWNER/ner-app:main")
    parser.add_argument("--summary", type=Path, help="append the Markdown summary here")
    parser.add_argument("--github-output", type=Path, help="append changed=true|false here")
    parser.add_argument("--result", type=Path, default=result_path(), help="[%(default)s]")
    parser.add_argument("--docker", default=os.environ.get("DOCKER", "docker"), help="[DOCKER]")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return console.run_main(lambda: command(args))


if __name__ == "__main__":
    sys.exit(main())
