#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the sweep tests and CI.
#
# Installs Debian's slurm-wlm and munge when they are missing, writes a minimal slurm.conf for
# this host (its CPUs and memory as `slurmd -C` reports them), creates the munge key, starts
# munged, slurmctld and slurmd, and waits until `sinfo` shows the node idle. Idempotent: when
# the cluster is already up it returns at once. Needs root (CI and the dev machines are root).
# Exit status 0 means the node takes jobs; anything else comes with a one-line reason.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARK="# written by bench tests/slurm/start-cluster.sh"
EDITION="# edition 3"  # raise it when the configuration below changes, so it is rewritten
LOG_DIR=/var/log/slurm
WAIT_S=${BENCH_SLURM_WAIT_S:-60}

die() { echo "start-cluster: $*" >&2; exit 1; }

node_state() { sinfo -h -N -o '%t' 2>/dev/null | head -n1; }

# The `capped` partition's per-user submit limit (a job_submit plugin; see the file). slurmctld
# reads the script again when it changes.
LUA_SRC="$(dirname "${BASH_SOURCE[0]}")/job_submit.lua"
if [ "$(id -u)" = 0 ] && ! cmp -s "$LUA_SRC" "$CONF_DIR/job_submit.lua"; then
    mkdir -p "$CONF_DIR" && cp "$LUA_SRC" "$CONF_DIR/job_submit.lua"
fi

# Fast path: a cluster of this edition that answers with an idle, busy or completing node is
# left as it is (the tests run in several workers, and another one's jobs may be on the node
# right now).
if command -v sinfo >/dev/null && scontrol ping 2>/dev/null | grep -q UP \
        && grep -qxF "$EDITION" "$CONF" 2>/dev/null; then
    case "$(node_state)" in idle|mix|alloc|comp) exit 0 ;; esac
fi

[ "$(id -u)" = 0 ] || die "must run as root to install and start Slurm (uid $(id -u))"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
        || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    echo "start-cluster: installing slurm-wlm and munge" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
        || die "apt-get install slurm-wlm munge failed"
fi

# munge: a key, a socket folder, and the daemon running as its own user.
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key && chmod 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged || die "munged did not start (see /var/log/munge)"
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null 2>&1 || die "munge does not answer after starting munged"
fi

# slurm.conf for this host; one left by somebody else is not overwritten. MaxArraySize is
# small (Slurm's default is 1001), so that the tests' sweeps are larger than one array, as
# the study's grid with its seeds and subsets is on a real cluster; the `capped` partition,
# on the same node, holds a user to a few submitted jobs, as a site's QOS limit does.
host=$(hostname -s)
node=$(slurmd -C | head -n1)  # NodeName=host CPUs=.. Boards=.. ... RealMemory=..
[[ $node == NodeName=* ]] || die "slurmd -C did not describe this node: $node"
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
node=${node/RealMemory=$mem/RealMemory=$((mem * 9 / 10))}  # headroom: slurmd rounds down
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script; refusing to replace it"
fi
mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
new=$(cat <<EOF
$MARK
$EDITION
ClusterName=bench
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=60
MinJobAge=600
MaxArraySize=4
JobSubmitPlugins=lua
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=capped Nodes=$host MaxTime=INFINITE State=UP
EOF
)
changed=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$new" ]; then
    printf '%s\n' "$new" >"$CONF"
    changed=1
fi

# Restart the daemons when the configuration changed; start the ones that are not running.
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [ $changed = 1 ]; then
    for pid in /run/slurmd.pid /run/slurmctld.pid; do
        if running $pid; then kill "$(cat $pid)"; sleep 1; fi
    done
fi
running /run/slurmctld.pid || slurmctld || die "slurmctld did not start: $(tail -n1 $LOG_DIR/slurmctld.log)"
running /run/slurmd.pid || slurmd || die "slurmd did not start: $(tail -n1 $LOG_DIR/slurmd.log)"

# Wait for the node to take jobs; a node left down or drained by an earlier run is resumed.
for _ in $(seq $((WAIT_S * 2))); do
    state=$(node_state)
    case "$state" in
        idle|mix|alloc) exit 0 ;;
        down*|drain*|drng*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
    esac
    sleep 0.5
done
die "node $host is '${state:-unknown}' after ${WAIT_S}s, not idle; see $LOG_DIR/slurmd.log: $(tail -n1 $LOG_DIR/slurmd.log 2>/dev/null)"
