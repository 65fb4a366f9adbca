#!/usr/bin/env bash
# The local base OS image `bench-os:bookworm`, built with no registry.
#
# No image registry is reachable from CI or the dev machines, so the base of the suite's images
# is a Debian bookworm root file system made by debootstrap (minbase plus python3, pip, venv
# and CA certificates) and imported with `docker import`. Bookworm's python3 is 3.11, the
# Python of the CPU torch wheel the wheelhouse carries. The root is cached as a tarball under
# .cache/docker/ (git-ignored), so re-importing after `docker system prune` skips debootstrap.
# Idempotent: does nothing when the tag exists. Needs root and a running dockerd
# (tests/docker/start-dockerd.sh). Exit status 0 means the tag exists.
set -euo pipefail
cd "$(dirname "$0")/../.."

TAG=${BENCH_OS_TAG:-bench-os:bookworm}
MIRROR=${BENCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${BENCH_DOCKER_CACHE:-.cache/docker}
TARBALL=$CACHE/bench-os-bookworm.tar.gz
PACKAGES=python3,python3-pip,python3-venv,ca-certificates

die() { echo "make-base: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "the Docker daemon does not answer; run tests/docker/start-dockerd.sh"
if docker image inspect "$TAG" >/dev/null 2>&1; then
    exit 0
fi

if [ ! -s "$TARBALL" ]; then
    [ "$(id -u)" = 0 ] || die "must run as root to debootstrap (uid $(id -u))"
    if ! command -v debootstrap >/dev/null; then
        echo "make-base: installing debootstrap" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null || die "apt-get update failed"
        apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
            || die "apt-get install debootstrap failed"
    fi
    mkdir -p "$CACHE"
    root=$(mktemp -d "$CACHE/root.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    echo "make-base: debootstrap bookworm into $root (a few minutes)" >&2
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$MIRROR" \
        >"$CACHE/debootstrap.log" 2>&1 \
        || die "debootstrap failed: $(tail -n1 "$CACHE/debootstrap.log") (log: $CACHE/debootstrap.log)"
    # Package caches and lists are of no use in an image; the log of debootstrap is kept aside.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/debootstrap
    tar -C "$root" --numeric-owner -czf "$TARBALL.part" . || die "could not pack $root"
    mv "$TARBALL.part" "$TARBALL"
fi

echo "make-base: importing $TARBALL as $TAG" >&2
docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap bookworm minbase + $PACKAGES (bench tests/docker/make-base.sh)" \
    "$TARBALL" "$TAG" >/dev/null || die "docker import of $TARBALL failed"
docker image inspect "$TAG" >/dev/null 2>&1 || die "$TAG is missing after the import"
