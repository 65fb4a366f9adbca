#!/bin/sh
# Installs the suite's dependencies (requirements.txt) into a new virtual environment (the
# argument: its path) while the base image is built. Run by containers/base/Dockerfile in its
# build stage; not meant for hosts.
#
# - The environment sees the base's packages (--system-site-packages): a torch already there
#   (a CUDA PyTorch base) is pinned by a constraint, so pip keeps it instead of replacing it.
# - With wheels in wheelhouse/ every package comes from there and pip never touches the network
#   (the build then runs with no network at all); without, from PyPI, trusting the host's CA
#   bundle (ca-certificates.crt, empty where the host had none) so pip works behind a
#   TLS-inspecting proxy.
set -eu
venv=$1
ctx=$(dirname "$0")

python3 -m venv --system-site-packages --without-pip "$venv"
py=$venv/bin/python3
"$py" -m pip --version >/dev/null 2>&1 || { echo "install.sh: the base image has no pip for python3" >&2; exit 1; }

: > "$ctx/constraints.txt"
if torch=$("$py" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null); then
    echo "install.sh: keeping the base image's torch $torch" >&2
    echo "torch==$torch" > "$ctx/constraints.txt"
fi

set -- --no-cache-dir --disable-pip-version-check --constraint "$ctx/constraints.txt"
if ls "$ctx"/wheelhouse/*.whl >/dev/null 2>&1; then
    set -- "$@" --no-index --find-links "$ctx/wheelhouse"
elif [ -s "$ctx/ca-certificates.crt" ]; then
    set -- "$@" --cert "$ctx/ca-certificates.crt"
fi
"$py" -m pip install "$@" --requirement "$ctx/requirements.txt"
"$py" -c 'import torch; print("install.sh: dependencies installed with torch", torch.__version__)'
