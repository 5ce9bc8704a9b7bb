# Shared settings of hack/cluster-up.sh and hack/cluster-down.sh (sourced, not run).
# shellcheck shell=bash disable=SC2034 # the variables are used by the sourcing scripts

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$HACK_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$HACK_DIR/.." && pwd))"
K8S_VERSION="v1.36.3"
CACHE="${KRONJOB_CACHE:-$HOME/.cache/kronjob}"
BIN="$CACHE/k8s-$K8S_VERSION/bin"
STATE="$ROOT/target/cluster"
PKI="$STATE/pki"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
KUBECONFIG_OUT="$STATE/kubeconfig"
# Outside $STATE: cluster-down removes $STATE while holding the lock.
LOCK="$ROOT/target/cluster.lock"
# Start order; cluster-down stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { printf '[cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Take the lock on fd 9 (waits for a concurrent cluster-up/cluster-down).
take_lock() {
  mkdir -p "$(dirname "$LOCK")"
  exec 9>"$LOCK"
  if ! flock -n 9; then
    log "waiting for another cluster-up/cluster-down to finish (lock $LOCK)"
    flock 9
  fi
}

# Prints the pid of a component if its pid file names a live process running
# our binary (guards against a recycled pid); fails otherwise. Right after
# launch the process may still be setsid, about to exec the binary: its command
# line then names the binary.
component_pid() {
  local name=$1 pid exe
  [[ -f "$PIDS/$name.pid" ]] || return 1
  pid=$(cat "$PIDS/$name.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 1
  if [[ "$exe" == "$BIN/$name" || "$exe" == "$BIN/$name (deleted)" ]] ||
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$BIN/$name"; then
    echo "$pid"
  else
    return 1
  fi
}
