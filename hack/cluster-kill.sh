#!/usr/bin/env bash
# Kill one component of a running test control plane with SIGKILL, as a
# crash would, and wait until it is gone:
#   KRONJOB_CLUSTER_DIR=target/cluster-chaos hack/cluster-kill.sh kube-apiserver
# Its state (etcd data, certificates, ports) stays; hack/cluster-restart.sh
# starts it again with the same command line. Only the process named by the
# pid file of that control plane is signalled. Used by the chaos suite
# (tests/chaos.rs) on its own control plane; never on one other tests share.
set -euo pipefail
# shellcheck source=hack/cluster-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

name=${1:?usage: cluster-kill.sh COMPONENT (one of ${COMPONENTS[*]})}
[[ " ${COMPONENTS[*]} " == *" $name "* ]] || { log "ERROR: unknown component $name"; exit 2; }
[[ -d "$STATE" ]] || { log "ERROR: no control plane in $STATE"; exit 1; }
take_lock

if ! pid=$(component_pid "$name"); then
  log "$name is not running"
  exit 0
fi
kill -KILL "$pid"
# Gone once it has released its files (its listening ports): no longer a
# process, or a zombie awaiting its reaper whose other threads have all
# exited. A Go program's main thread can be a zombie while its other threads
# are still exiting and holding the shared file table; a restart then fails
# with "address already in use".
gone() {
  [[ -d "/proc/$pid" ]] || return 0
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] || return 1
  local threads
  threads=$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  ((threads <= 1))
}
for _ in $(seq 1 100); do
  if gone; then
    log "killed $name (pid $pid)"
    exit 0
  fi
  sleep 0.05
done
log "ERROR: $name (pid $pid) survived SIGKILL"
exit 1
