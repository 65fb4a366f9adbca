#!/usr/bin/env bash
# What the tests use for real, installed and started: the first half of the README's test
# command (and so of CI, .ci/run). On a fresh Debian machine (root) it installs and starts
# everything; run again, it checks and returns in seconds.
#
#   .venv       the suite with its test extras (installed where a requirement is not met)
#   Ruby        its standard library is the offline Ruby corpus of the native tests, and
#               ruby-debian's 33 library packages (native/sources.py DEBIAN_RUBY_PACKAGES)
#   Chromium    the leaderboard site tests open the published pages in it, headless
#   Slurm       a real one-node cluster (slurm-wlm + munge) for the sweep tests
#   Docker      a daemon, the base OS image bench-os:bookworm (debootstrap, no registry) and an
#               offline wheelhouse in .cache/wheelhouse, from which the test fixtures build the
#               suite's images (~5 min, once per source version) with no network
#
# Exit status 1 only when the virtualenv cannot be made (then nothing can run). Any other step
# that fails says so in one line and the rest goes on: the tests that need it then fail with
# its reason, and the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."

RUBY_LIBS="ruby-activesupport ruby-activerecord ruby-actionpack ruby-actionview ruby-activemodel
    ruby-railties ruby-activejob ruby-actionmailer ruby-activestorage ruby-actioncable ruby-rack
    ruby-sinatra ruby-thor ruby-i18n ruby-rspec-core ruby-rspec-expectations ruby-rspec-mocks
    ruby-sequel rubocop ruby-rubocop-ast ruby-whitequark-parser ruby-concurrent yard ruby-mail
    ruby-faraday ruby-addressable ruby-net-ssh ruby-httpclient ruby-kramdown ruby-asciidoctor
    ruby-prawn ruby-tzinfo ruby-redis"
FAILED=()

warn() { echo "setup: $*" >&2; }
step_failed() { FAILED+=("$1"); warn "$1 failed; the tests that need it will say why"; }

updated=""
apt_install() {  # apt_install PACKAGE...: one `apt-get update` per run at most
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "$updated" ]; then
        apt-get update -qq >/dev/null || return 1
        updated=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The virtualenv: Debian's venv module where the image lacks it (pyenv builds include it).
if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    apt_install python3-venv || { warn "apt-get install python3-venv failed"; exit 1; }
fi
# Whether .venv runs this checkout's suite with every requirement of pyproject.toml met.
venv_current() {
    [ -x .venv/bin/bench ] && .venv/bin/python - 2>/dev/null <<'PY'
import importlib.metadata as md, sys, tomllib
from pathlib import Path
from packaging.requirements import Requirement
import benchmark
project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
def met(req: Requirement) -> bool:
    try:
        return req.specifier.contains(md.version(req.name), prereleases=True)
    except md.PackageNotFoundError:
        return False
here = Path(benchmark.__file__).resolve().parent == Path("benchmark").resolve()
sys.exit(0 if here and all(met(Requirement(r)) for r in wanted) else 1)
PY
}
if ! venv_current; then
    warn "installing the suite and its test extras into .venv"
    { python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'; } \
        || { warn "python3 -m venv .venv && pip install -e '.[test]' failed"; exit 1; }
fi

# Ruby, then ruby-debian's packages (18 s here for these and 31 more).
command -v ruby >/dev/null 2>&1 || apt_install ruby || step_failed "apt-get install ruby"
# shellcheck disable=SC2086
dpkg-query -W $RUBY_LIBS >/dev/null 2>&1 || apt_install $RUBY_LIBS \
    || step_failed "apt-get install of ruby-debian's packages"

command -v chromium >/dev/null 2>&1 || apt_install chromium \
    || step_failed "apt-get install chromium"

bash tests/slurm/start-cluster.sh || step_failed "tests/slurm/start-cluster.sh"

# Docker: the daemon (~10 s), the base image (~1 min 45 s; 7 s from its cached tarball) and the
# wheelhouse (~35 s; skipped while it is complete for today's dependencies).
if bash tests/docker/start-dockerd.sh; then
    bash tests/docker/make-base.sh || step_failed "tests/docker/make-base.sh"
else
    step_failed "tests/docker/start-dockerd.sh"
fi
current='import sys; from pathlib import Path; from benchmark.images import wheelhouse_current
sys.exit(0 if wheelhouse_current(Path(".cache/wheelhouse")) else 1)'
.venv/bin/python -c "$current" 2>/dev/null || bash tests/docker/make-wheelhouse.sh .cache/wheelhouse \
    || step_failed "tests/docker/make-wheelhouse.sh"

if [ ${#FAILED[@]} -gt 0 ]; then
    warn "${#FAILED[@]} step(s) failed: $(IFS=,; echo "${FAILED[*]}")"
fi
exit 0
