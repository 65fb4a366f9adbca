#!/usr/bin/env bash
# A wheelhouse for building the suite's images with no network: `bench images wheelhouse DIR`
# (benchmark/images.py) run from the checkout's virtualenv, which it creates with the suite
# installed when it is missing. torch comes from /opt/wheels where that folder exists (the CPU
# build this machine's venv has), everything else from the package index. Incremental: wheels
# already in DIR are reused. Usage: tests/docker/make-wheelhouse.sh [DIR] (.cache/wheelhouse).
set -euo pipefail
cd "$(dirname "$0")/../.."

DEST=${1:-.cache/wheelhouse}
die() { echo "make-wheelhouse: $*" >&2; exit 1; }

if [ ! -x .venv/bin/bench ]; then
    echo "make-wheelhouse: installing the suite into .venv" >&2
    python3 -m venv .venv || die "python3 -m venv .venv failed"
    .venv/bin/pip install -q -e . || die "pip install -e . failed"
fi
links=()
[ -d /opt/wheels ] && links=(--find-links /opt/wheels)
.venv/bin/bench images wheelhouse "$DEST" "${links[@]}"
