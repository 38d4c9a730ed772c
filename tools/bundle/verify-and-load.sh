#!/bin/sh
# Verify an ner-app bundle, then load its image into a container engine.
#
#   sh verify-and-load.sh [--verify-only] [BUNDLE_DIR]     (default: the folder of this script)
#
# 1. The signature: SHA256SUMS.sig must be a signature over SHA256SUMS made by a key in the
#    allowed-signers file (NER_ALLOWED_SIGNERS, else the bundle's own allowed_signers: compare
#    its fingerprint with the one your vendor gave you another way).
# 2. The checksums: every file SHA256SUMS lists must be there, then match.
# 3. The load (not with --verify-only): the recorded manifest must name the recorded image ID
#    (its config's digest), and the engine must give the image one of the two: Docker's classic
#    store and Podman name an image by its config, the containerd image store (new Docker
#    installs, Docker Desktop) by its manifest. If it does not, the image just loaded is
#    removed again. Only then is it tagged. A bundle of several platforms loads this host's
#    (uname -m); NER_PLATFORM=linux/ARCH chooses another.
#
# Needs only sh, ssh-keygen (OpenSSH >= 8.2), sha256sum, tar, sed and the engine's client:
# DOCKER (default docker), e.g. DOCKER='podman --root /tmp/store'. Exit status: 0 when verified
# (and loaded), 1 when the bundle is refused, 2 when this host lacks something.
set -eu

NAMESPACE=ner-app-bundle
verify_only=no
if [ "${1:-}" = "--verify-only" ]; then
    verify_only=yes
    shift
fi
case "${1:-}" in
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "unknown option $1 (see: sh $0 --help)" >&2; exit 2 ;;
esac
bundle=${1:-$(dirname "$0")}
DOCKER=${DOCKER:-docker}

refuse() {
    echo "REFUSED: $*" >&2
    echo "Nothing was loaded into the engine. Ask your vendor for a new copy of the bundle." >&2
    exit 1
}

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "this host has no \`$1\`, which the verification needs: $2" >&2
        exit 2
    fi
}

record() {  # the value of a `"key": "value"` or `"key": ["a", "b"]` line of image.json
    sed -n "s/^  \"$1\": \[\{0,1\}\([^]]*\)\]\{0,1\},\{0,1\}\$/\1/p" "$bundle/image.json" \
        | tr -d '",'
}

check_signature() {
    signers=${NER_ALLOWED_SIGNERS:-$bundle/allowed_signers}
    [ -f "$signers" ] || refuse "the allowed-signers file $signers is missing."
    [ -f "$bundle/SHA256SUMS" ] || refuse "SHA256SUMS is missing from $bundle."
    [ -f "$bundle/SHA256SUMS.sig" ] || refuse "SHA256SUMS.sig is missing from $bundle."
    if ! principal=$(ssh-keygen -Y find-principals -f "$signers" -s "$bundle/SHA256SUMS.sig" 2>&1); then
        refuse "SHA256SUMS.sig was not made by a key in $signers ($principal)."
    fi
    principal=$(echo "$principal" | sed -n 1p)
    if ! out=$(ssh-keygen -Y verify -f "$signers" -I "$principal" -n "$NAMESPACE" \
        -s "$bundle/SHA256SUMS.sig" <"$bundle/SHA256SUMS" 2>&1); then
        refuse "the signature does not match SHA256SUMS: the checksums were changed after" \
            "signing ($out)."
    fi
    echo "signature: $out"
}

check_listed() {  # every path SHA256SUMS lists is safe and there, before any is hashed
    count=0
    missing=0
    first=
    while read -r sum path; do
        case "$path" in
            /* | *..* | "") refuse "SHA256SUMS names an unsafe path: '$path'." ;;
        esac
        count=$((count + 1))
        if [ ! -f "$bundle/$path" ]; then
            missing=$((missing + 1))
            first=${first:-$path}
        fi
    done <"$bundle/SHA256SUMS"
    [ "$count" -gt 0 ] || refuse "SHA256SUMS lists no files."
    if [ "$missing" -gt 0 ]; then
        refuse "$first is missing: $missing of the $count files SHA256SUMS lists are not in" \
            "$bundle. The bundle is incomplete (a copy or an unpacked .tar cut short?): copy" \
            "it again."
    fi
}

check_files() {
    check_listed
    while read -r sum path; do
        found=$(sha256sum <"$bundle/$path" | sed 's/ .*//')
        if [ "$found" != "$sum" ]; then
            case "$path" in
                *.tar)
                    if ! tar -tf "$bundle/$path" >/dev/null 2>&1; then
                        refuse "$path is truncated or damaged (not a complete tar archive):" \
                            "copy it again."
                    fi ;;
            esac
            refuse "$path does not match its signed checksum: it was changed or damaged" \
                "after signing (copy it again; if it still differs, it was tampered with)."
        fi
    done <"$bundle/SHA256SUMS"
    echo "checksums: all $count files match"
}

loaded_id() {  # the image ID in `load` output: Docker "Loaded image ID: X", Podman "Loaded image: X"
    sed -n 's/^Loaded image\( ID\)\{0,1\}: \(sha256:[0-9a-f]\{64\}\)$/\2/p' | sed -n 1p
}

host_architecture() {  # as Docker names it
    case $(uname -m) in
        x86_64 | amd64) echo amd64 ;;
        aarch64 | arm64) echo arm64 ;;
        *) uname -m ;;
    esac
}

choose_image() {  # sets image_id, manifest and archive: the bundle's one image, or the platform's
    platforms=$(record platforms)
    if [ -z "$platforms" ]; then
        image_id=$(record image_id)
        manifest=$(record manifest_digest)
        archive=image.tar
        return
    fi
    wanted=${NER_PLATFORM:-linux/$(host_architecture)}
    case ${wanted#linux/} in
        "" | *[!a-z0-9]*)
            echo "NER_PLATFORM=$wanted is not a platform: give linux/ARCH, one of: $platforms" >&2
            exit 2 ;;
    esac
    # shellcheck disable=SC2046 # the record's three words: image ID, archive, manifest digest
    set -- $(record "${wanted#linux/}")
    if [ $# -ne 3 ]; then
        echo "this bundle has no image for $wanted (it has: $platforms); set NER_PLATFORM to" \
            "one of those to load it under emulation." >&2
        exit 2
    fi
    case $2 in
        */* | .*) refuse "image.json names an unsafe archive: '$2'." ;;
    esac
    image_id=$1
    archive=$2
    manifest=$3
    echo "platform: $wanted"
}

check_manifest() {  # the recorded manifest is in the archive and names the recorded config
    named=$(tar -xOf "$bundle/$archive" "blobs/sha256/${manifest#sha256:}" 2>/dev/null) ||
        refuse "$archive holds no manifest $manifest, which image.json records."
    case "$named" in
        *"\"config\":{\"digest\":\"$image_id\""*) ;;
        *) refuse "the manifest image.json records ($manifest) names another config than the" \
            "image ID image.json records, $image_id." ;;
    esac
}

present() {
    $DOCKER image inspect --format '{{.Id}}' "$1" >/dev/null 2>&1
}

load_image() {
    choose_image
    tags=$(record tags)
    case "$image_id" in
        sha256:????????????????????????????????????????????????????????????????) ;;
        *) refuse "image.json records no image ID." ;;
    esac
    $DOCKER version >/dev/null 2>&1 || {
        echo "the engine behind \`$DOCKER\` does not answer: start it, or set DOCKER" \
            "(e.g. DOCKER=podman)." >&2
        exit 2
    }
    case "$manifest" in
        sha256:????????????????????????????????????????????????????????????????) ;;
        *) refuse "image.json records no manifest digest." ;;
    esac
    check_manifest
    had_it=no
    if present "$image_id" || present "$manifest"; then had_it=yes; fi
    output=$($DOCKER load --input "$bundle/$archive" 2>&1) || refuse "the engine could not load" \
        "$archive: $output"
    got=$(echo "$output" | loaded_id)
    # Docker's classic store and Podman name an image by its config's digest (the image ID);
    # the containerd image store by its manifest's digest, and the manifest names the config.
    case "$got" in
        "$image_id") named_by="image ID" ;;
        "$manifest") named_by="manifest digest (the containerd image store's name for it)" ;;
        *) named_by= ;;
    esac
    if [ -z "$named_by" ] || ! present "$got"; then
        if [ -n "$got" ] && [ "$had_it" = no ] && [ -z "$named_by" ]; then
            $DOCKER image rm "$got" >/dev/null 2>&1 || true
        fi
        refuse "the engine loaded the image as ${got:-an unknown ID}, but the bundle records" \
            "$image_id (manifest $manifest) (the image was removed again)."
    fi
    for tag in $tags; do
        $DOCKER tag "$got" "$tag"
    done
    echo "loaded: $image_id (manifest $manifest); the engine names it by its $named_by, $got;" \
        "tagged $tags"
    first=$(echo "$tags" | sed 's/ .*//')
    echo "run it (then open http://127.0.0.1:8501):"
    echo "  $DOCKER run --rm -p 127.0.0.1:8501:8501 --read-only --tmpfs /tmp --cap-drop ALL" \
        "--security-opt no-new-privileges $first"
}

need ssh-keygen "install OpenSSH's client (Debian: openssh-client; RHEL: openssh)."
need sha256sum "install coreutils."
[ -d "$bundle" ] || { echo "$bundle is not a folder: unpack the bundle first (tar -xf)." >&2; exit 2; }
check_signature
check_files
if [ "$verify_only" = yes ]; then
    echo "verified: $bundle (nothing loaded: --verify-only)"
else
    load_image
fi
