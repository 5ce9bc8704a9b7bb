#!/usr/bin/env bash
# Stop the test control plane started by hack/cluster-up.sh and remove its
# state (target/cluster, or $KRONJOB_CLUSTER_DIR). Only the processes named by
# its pids/ are signalled: TERM first, KILL for those still alive after a
# deadline (KRONJOB_STOP_TIMEOUT seconds, default 10).
set -euo pipefail
# shellcheck source=hack/cluster-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

STOP_TIMEOUT="${KRONJOB_STOP_TIMEOUT:-10}"
[[ "${KRONJOB_LOCK_HELD:-0}" == 1 ]] || take_lock

if [[ ! -d "$STATE" ]]; then
  log "no cluster state in $STATE: nothing to stop"
  exit 0
fi

# A zombie (exited, not yet reaped by its new parent) counts as stopped.
running() { kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }

# stop_group NAME...: TERM the given components, wait, KILL what is left.
stop_group() {
  local c pid pids=() left
  for c in "$@"; do
    if pid=$(component_pid "$c"); then
      log "stopping $c (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    left=()
    for pid in "${pids[@]}"; do running "$pid" && left+=("$pid"); done
    ((${#left[@]} == 0)) && return 0
    if ((SECONDS >= deadline)); then
      log "still running after ${STOP_TIMEOUT}s, sending KILL: ${left[*]}"
      kill -KILL "${left[@]}" 2>/dev/null || true
      sleep 0.2
      for pid in "${left[@]}"; do
        if running "$pid"; then
          log "ERROR: pid $pid survived KILL"
          return 1
        fi
      done
      return 0
    fi
    sleep 0.1
  done
}

# The clients of the API server first, then the API server, then etcd, so that
# none of them hangs on a backend that is already gone.
stop_group kwok kube-scheduler kube-controller-manager
stop_group kube-apiserver
stop_group etcd
rm -rf "$STATE"
log "stopped; removed $STATE"
