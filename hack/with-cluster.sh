#!/usr/bin/env bash
# Run a command against the local test control plane:
#   hack/with-cluster.sh cargo test --all-targets
# Builds the binaries if missing, starts the control plane (or reuses a
# healthy one), runs the command with KUBECONFIG set, and stops the control
# plane afterwards, also when the command or the start failed, unless
# KEEP_CLUSTER=1. Exits with the command's status.
set -euo pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

stop() {
  local rc=$?
  if [[ "${KEEP_CLUSTER:-0}" == 1 ]]; then
    echo "[with-cluster] KEEP_CLUSTER=1: the control plane keeps running; stop it with make cluster-down" >&2
  else
    # Quiet on success, so that the command's own summary stays the last output.
    local out
    if ! out=$("$HACK_DIR/cluster-down.sh" 2>&1); then
      printf '%s\n' "$out" >&2
      echo "[with-cluster] cluster-down failed" >&2
      ((rc != 0)) || rc=1
    fi
  fi
  exit "$rc"
}
trap stop EXIT

"$HACK_DIR/ensure-deps.sh"
"$HACK_DIR/build-k8s.sh"
KUBECONFIG="$("$HACK_DIR/cluster-up.sh" | tail -n 1)"
export KUBECONFIG
echo "[with-cluster] KUBECONFIG=$KUBECONFIG; running: $*" >&2
"$@"
