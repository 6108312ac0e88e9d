#!/usr/bin/env bash
# Stop the daemons that .ci/slurm-up.sh DIR started, by the PIDs it recorded in DIR.
set -uo pipefail
dir=${1:?usage: slurm-down.sh DIR}
for name in slurmd slurmctld munged; do
  pidfile=$dir/$name.pid
  [ -s "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"
done
etc=/etc/slurm/slurm.conf
[ -L "$etc" ] && [ "$(readlink "$etc")" = "$(cd "$dir" && pwd)/slurm.conf" ] && rm -f "$etc"
exit 0
