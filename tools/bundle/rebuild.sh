#!/bin/sh
# Rebuild the shipped image from this bundle, with no network, and check it is the same image.
#
#   sh sources/rebuild.sh            (from the bundle's folder; or give the folder: sh rebuild.sh DIR)
#   DOCKER='podman --root /tmp/store' sh sources/rebuild.sh
#
# Needs git, python3 (>= 3.11, with venv) and a container engine; nothing from any network.
# It verifies the bundle (verify-and-load.sh --verify-only), clones the commit from the git
# bundle, installs the build tools from sources/wheels/tools (hash-checked) into a temporary
# venv, and runs `python -m ner_build.proofs.rebuild BUNDLE` from the cloned tree, which loads the
# base image, builds with `--network=none` and compares the image ID with image.json's.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bundle=$(cd "${1:-$here/..}" && pwd)
sources="$bundle/sources"

fail() {
    echo "error: $*" >&2
    exit 1
}

[ -d "$sources" ] || fail "$bundle has no sources/ folder: give the bundle's folder, made with \`nox -s bundle -- --with-sources\`."
for tool in git python3; do
    command -v "$tool" > /dev/null 2>&1 || fail "$tool is not installed: install it (Debian: apt-get install git python3-venv) and run this again."
done

if [ -f "$bundle/verify-and-load.sh" ]; then
    echo "==> verifying the bundle (signature and checksums)" >&2
    (cd "$bundle" && sh ./verify-and-load.sh --verify-only) || fail "the bundle did not verify (see above): do not rebuild from it; ask the vendor for a new one."
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ner-app-rebuild.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

echo "==> cloning the commit from sources/ner-app.git" >&2
ref=$(git bundle list-heads "$sources/ner-app.git" | awk 'NR == 1 { print $2 }')
[ -n "$ref" ] || fail "sources/ner-app.git holds no commit: the bundle is damaged."
git init --quiet "$work/tree"
git -C "$work/tree" fetch --quiet "$sources/ner-app.git" "$ref"
git -C "$work/tree" -c advice.detachedHead=false checkout --quiet --detach FETCH_HEAD

echo "==> installing the build tools from sources/wheels/tools (hash-checked, no index)" >&2
python3 -m venv "$work/tools" || fail "python3 cannot make a venv: install python3-venv."
"$work/tools/bin/pip" install --quiet --disable-pip-version-check --no-index \
    --find-links "$sources/wheels/tools" --require-hashes --no-deps \
    -r "$work/tree/tools/bootstrap/requirements.txt" \
    || fail "the tools' wheels do not install on $(python3 --version 2>&1): the bundle's wheels/tools is for the vendor's Python; use that Python version."

cd "$work/tree"
PATH="$work/tools/bin:$PATH" PYTHONPATH=tools POETRY="$work/tools/bin/poetry" \
    "$work/tools/bin/python" -m ner_build.proofs.rebuild "$bundle"
