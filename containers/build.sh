#!/usr/bin/env bash
# Builds the chatr image with Debian's own tools, without any image registry:
#   1. the tools (mmdebstrap, buildah, podman, runc), installed with apt-get when missing (as root); podman-compose
#      is not among them: Debian bookworm's 1.0.3 cannot read compose.host.yaml, requirements-dev.txt pins a newer one;
#   2. the base `docker.io/library/debian:bookworm-slim`, made from Debian's packages with mmdebstrap and imported
#      into podman's store (skipped when the store already has an image of that name);
#   3. the image (CHATR_IMAGE, default localhost/chatr:latest) from the Containerfile with buildah, skipped when the
#      store holds one built from the same build context (a hash of every file the context sends is kept as a label).
# pip inside the build reaches the package index through this machine's CA bundle, lent to the RUN steps with a
# pip.conf (-v, read-only) and never written into the image.
# Usage: containers/build.sh [--force]     prints the image name on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${CHATR_IMAGE:-localhost/chatr:latest}"
BASE=docker.io/library/debian:bookworm-slim
TOOLS=(mmdebstrap buildah podman runc)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/containers/containers.conf}"
force=0
[ "${1:-}" = "--force" ] && force=1

say() { echo "containers/build.sh: $*" >&2; }

missing=()
for tool in "${TOOLS[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        say "missing ${missing[*]}: sudo apt-get install ${TOOLS[*]}"
        exit 1
    fi
    say "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${TOOLS[@]}" >&2
fi

# One build at a time on this machine: test sessions of several checkouts share podman's store.
exec 9>"${TMPDIR:-/tmp}/chatr-image-build.lock"
flock 9

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

if ! podman image exists "$BASE"; then
    say "making $BASE with mmdebstrap (minbase, slimmed as Debian's -slim images are)"
    # Debian's slim images keep no documentation, manuals or translations; the same dpkg filters apply to every
    # package the Containerfile installs later. Valid-Until is not checked: a mirror may serve a dated snapshot.
    mmdebstrap --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' \
        bookworm "$workdir/rootfs.tar" >&2
    podman import --change 'CMD ["bash"]' "$workdir/rootfs.tar" "$BASE" >&2
    rm -f "$workdir/rootfs.tar"
fi

# The build context as buildah sends it: every file but those .containerignore names.
context_hash="$(python3 - <<'PY'
import fnmatch, hashlib, os
patterns = [line.strip() for line in open(".containerignore") if line.strip() and not line.startswith("#")]
def ignored(path):
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    candidates += ["/".join(parts[i:]) for i in range(1, len(parts))]
    return any(fnmatch.fnmatch(c, p.removeprefix("**/")) for p in patterns for c in candidates)
digest = hashlib.sha256()
for top, dirs, files in os.walk("."):
    rel = os.path.relpath(top, ".")
    dirs[:] = sorted(d for d in dirs if not ignored(os.path.normpath(os.path.join(rel, d))))
    for name in sorted(files):
        path = os.path.normpath(os.path.join(rel, name))
        if ignored(path) and path not in ("Containerfile", ".containerignore"):
            continue
        digest.update(path.encode() + b"\0")
        if os.path.islink(path):
            digest.update(os.readlink(path).encode())
        else:
            digest.update(oct(os.stat(path).st_mode & 0o111).encode())
            with open(path, "rb") as handle:
                digest.update(handle.read())
print(digest.hexdigest()[:32])
PY
)"

built="$(podman image inspect --format '{{index .Labels "org.chatr.context-hash"}}' "$IMAGE" 2>/dev/null || true)"
if [ "$force" = 0 ] && [ "$built" = "$context_hash" ]; then
    say "$IMAGE is up to date ($context_hash)"
    echo "$IMAGE"
    exit 0
fi

ca_bundle="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
printf '[global]\ncert = /etc/host-ca.crt\n' > "$workdir/pip.conf"
say "building $IMAGE ($context_hash)"
buildah bud --isolation chroot --format docker --layers --pull=never \
    -v "$ca_bundle:/etc/host-ca.crt:ro" -v "$workdir/pip.conf:/etc/pip.conf:ro" \
    --label "org.chatr.context-hash=$context_hash" \
    -f Containerfile -t "$IMAGE" . >&2
echo "$IMAGE"
