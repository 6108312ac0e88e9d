#!/usr/bin/env bash
# Start a throw-away single-node SLURM cluster on 127.0.0.1 with two fake GPUs, for tests.
#   .ci/slurm-up.sh DIR     configuration, state, logs and PID files go to DIR
#   .ci/slurm-down.sh DIR   stops the daemons this script started (by PID), removes the link below
# Needs root on Debian/Ubuntu; installs slurm-wlm and munge with apt-get when they are missing.
# /etc/slurm/slurm.conf becomes a link to DIR/slurm.conf: jobs must find the configuration at the
# default place (Snakemake's slurm-jobstep drops SLURM_CONF from the job environment). An existing
# /etc/slurm/slurm.conf that is not such a link is never touched (exit 7). Ports 16817/16818.
# Exit codes: 0 running, 2 not root, 3 not installed and no apt-get, 4 ports busy,
# 5 daemons did not come up, 6 apt-get install failed, 7 a real SLURM configuration exists.
set -euo pipefail
dir=$(mkdir -p "${1:?usage: slurm-up.sh DIR}" && cd "$1" && pwd)

[ "$(id -u)" = 0 ] || { echo "slurm-up: needs root (starts slurmctld/slurmd/munged, creates device nodes)" >&2; exit 2; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || { echo "slurm-up: slurm-wlm/munge not installed and no apt-get to install them" >&2; exit 3; }
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge; } \
    > "$dir/apt.log" 2>&1 || { echo "slurm-up: apt-get install slurm-wlm munge failed (see $dir/apt.log)" >&2; exit 6; }
fi
if (exec 3<>/dev/tcp/127.0.0.1/16817) 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/16818) 2>/dev/null; then
  echo "slurm-up: port 16817 or 16818 already in use (another test cluster running?)" >&2; exit 4
fi

etc=/etc/slurm/slurm.conf
# (a link to a stopped test cluster's configuration, or a dangling one, is replaced)
if [ -e "$etc" ] && ! { [ -L "$etc" ] && grep -q '^ClusterName=srloss-test$' "$etc"; }; then
  echo "slurm-up: $etc exists and is not a test cluster's link; refusing to replace a real SLURM configuration" >&2; exit 7
fi
host=$(hostname -s)
mkdir -p "$dir/spool/ctld" "$dir/spool/d" "$dir/log"
# Fake GPUs: SLURM's GRES needs character devices (plain files and count-only GRES are ignored).
for i in 0 1; do [ -c "$dir/fakegpu$i" ] || mknod "$dir/fakegpu$i" c 195 "$i"; done

cat > "$dir/slurm.conf" <<CONF
ClusterName=srloss-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
GresTypes=gpu
# the profile's real requests (4 CPUs, 16 GB per training job) must fit on a small CI machine
SlurmdParameters=config_overrides
MinJobAge=300
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/d
NodeName=$host NodeAddr=127.0.0.1 CPUs=16 RealMemory=64000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
echo "NodeName=$host Name=gpu File=$dir/fakegpu[0-1]" > "$dir/gres.conf"
mkdir -p /etc/slurm && ln -sfn "$dir/slurm.conf" "$etc"

# munge: reuse a running daemon, else start one (and remember its PID for slurm-down.sh)
if ! munge -n </dev/null >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || mungekey --create
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
  cp /run/munge/munged.pid "$dir/munged.pid"
fi

export SLURM_CONF=$dir/slurm.conf
/usr/sbin/slurmctld -i -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
  [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && { echo "slurm-up: node $host idle, SLURM_CONF=$SLURM_CONF"; exit 0; }
  sleep 0.2
done
echo "slurm-up: node did not become idle in 20 s; sinfo: $(sinfo -N 2>&1); logs in $dir/log" >&2
exit 5
