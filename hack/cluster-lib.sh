# Shared settings of hack/cluster-up.sh and hack/cluster-down.sh (sourced, not run).
# shellcheck shell=bash disable=SC2034 # the variables are used by the sourcing scripts

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$HACK_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$HACK_DIR/.." && pwd))"
K8S_VERSION="v1.36.3"
CACHE="${KRONJOB_CACHE:-$HOME/.cache/kronjob}"
BIN="$CACHE/k8s-$K8S_VERSION/bin"
# The state directory of the control plane: target/cluster by default;
# KRONJOB_CLUSTER_DIR names another (relative to the repository root unless
# absolute), so that several control planes can run side by side (the chaos
# suite kills and restarts the components of its own, target/cluster-chaos).
STATE="${KRONJOB_CLUSTER_DIR:-target/cluster}"
[[ "$STATE" == /* ]] || STATE="$ROOT/$STATE"
STATE="${STATE%/}"
PKI="$STATE/pki"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
# The command line of each component, NUL-separated (hack/cluster-restart.sh).
CMDS="$STATE/cmd"
KUBECONFIG_OUT="$STATE/kubeconfig"
# Beside $STATE, not in it: cluster-down removes $STATE while holding the lock.
LOCK="$STATE.lock"
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

# start_component NAME: start NAME from its command line recorded in
# $CMDS/NAME, detached from our session (setsid), stdin closed, output
# appended to logs/NAME.log, the lock fd closed so it is not inherited.
start_component() {
  local name=$1 argv=() pid shell _
  mapfile -d '' -t argv <"$CMDS/$name"
  setsid "${argv[@]}" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PIDS/$name.pid"
  # Until the forked shell has exec'd setsid, component_pid cannot tell the
  # process is ours: wait (briefly) for the exec, so a check right after this
  # does not take a starting component for a dead one.
  shell=$(readlink "/proc/$$/exe")
  for _ in $(seq 1 100); do
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$shell" ]] || break
    sleep 0.01
  done
}

# The ports of a running control plane.
load_ports() {
  # shellcheck source=/dev/null
  source "$STATE/ports.env"
}

admin_curl() { # path
  curl -sS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$API_PORT$1"
}

etcd_ok() { curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
