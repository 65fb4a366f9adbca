#!/usr/bin/env bash
# A Docker daemon on this machine, for the container tests and CI.
#
# Installs Debian's docker.io when `dockerd` is missing (the docker client alone is not enough),
# then starts dockerd in the background unless `docker info` already answers, and waits until
# it does. Storage drivers are tried in order (overlay2, then fuse-overlayfs, then vfs, which
# works everywhere but copies every layer), so the same script works in a VM, a container with
# a nested overlay root, or CI. Idempotent: a daemon that answers is left as it is. Needs root.
# Exit status 0 means `docker info` answers; anything else comes with a one-line reason.
set -euo pipefail

LOG=${BENCH_DOCKERD_LOG:-/var/log/dockerd.log}
WAIT_S=${BENCH_DOCKERD_WAIT_S:-60}
DRIVERS=${BENCH_DOCKERD_DRIVERS:-"overlay2 fuse-overlayfs vfs"}

die() { echo "start-dockerd: $*" >&2; exit 1; }

answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null && answers; then
    exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root to install and start dockerd (uid $(id -u))"

if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    echo "start-dockerd: installing docker.io" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null \
        || die "apt-get install docker.io failed"
fi

# A daemon that is still starting (another caller of this script) gets the same wait; one
# that never answers holds the pid file and must be stopped by hand.
pidfile=/var/run/docker.pid
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    for _ in $(seq $((WAIT_S * 5))); do answers && exit 0; sleep 0.2; done
    die "dockerd (pid $(cat "$pidfile")) runs but does not answer after ${WAIT_S}s; see $LOG"
fi
rm -f "$pidfile"
mkdir -p "$(dirname "$LOG")"

# Try one storage driver; then, if the bridge cannot be set up (no iptables, no netfilter),
# the same driver without iptables. Containers the suite runs use network_mode=none, and image
# builds install from a local wheelhouse or the bridge where it works.
start_with() {
    local driver=$1; shift
    echo "start-dockerd: starting dockerd --storage-driver $driver $*" >&2
    setsid dockerd --storage-driver "$driver" "$@" >>"$LOG" 2>&1 < /dev/null &
    local pid=$!
    for _ in $(seq $((WAIT_S * 5))); do
        answers && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    die "dockerd (pid $pid) did not answer within ${WAIT_S}s; see $LOG"
}

for driver in $DRIVERS; do
    if [ "$driver" = fuse-overlayfs ] && ! command -v fuse-overlayfs >/dev/null; then
        continue
    fi
    start_with "$driver" && exit 0
    start_with "$driver" --iptables=false --ip-masq=false && exit 0
done
die "dockerd exited with every storage driver ($DRIVERS): $(tail -n1 "$LOG")"
