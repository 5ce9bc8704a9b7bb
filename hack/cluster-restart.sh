#!/usr/bin/env bash
# Start one component of a running test control plane again, with the
# command line cluster-up.sh recorded for it (same flags, ports, data), and
# wait until it is healthy:
#   KRONJOB_CLUSTER_DIR=target/cluster-chaos hack/cluster-restart.sh etcd
# A component still running is killed first (SIGKILL), so this is also a
# crash-and-restart. Waits at most KRONJOB_CLUSTER_TIMEOUT seconds (default
# 180: on a loaded machine a restarted apiserver took 100 s to be ready) for
# etcd's /health or the apiserver's /readyz; other components only need to
# stay alive for a second. Used by the chaos suite (tests/chaos.rs).
set -euo pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/cluster-lib.sh
source "$HACK_DIR/cluster-lib.sh"

name=${1:?usage: cluster-restart.sh COMPONENT (one of ${COMPONENTS[*]})}
[[ " ${COMPONENTS[*]} " == *" $name "* ]] || { log "ERROR: unknown component $name"; exit 2; }
[[ -f "$CMDS/$name" ]] || { log "ERROR: no recorded command line $CMDS/$name (is a control plane running in $STATE?)"; exit 1; }
TIMEOUT="${KRONJOB_CLUSTER_TIMEOUT:-180}"

if component_pid "$name" >/dev/null; then
  "$HACK_DIR/cluster-kill.sh" "$name"
fi
take_lock
load_ports
start=$SECONDS
printf '\n---- restarted by hack/cluster-restart.sh at %s ----\n' "$(date -u +%FT%TZ)" >>"$LOGS/$name.log"
start_component "$name"

# A component that exits at once because its port is still bound (by its
# killed predecessor's last threads, or a socket the kernel has not let go)
# is started again, at most 20 times.
binds=0
ready() {
  if ! component_pid "$name" >/dev/null; then
    if ((binds < 20)) && tail -n 5 "$LOGS/$name.log" | grep -q "address already in use"; then
      binds=$((binds + 1))
      log "$name: its port is still in use; starting it again in 0.5 s ($binds)"
      sleep 0.5
      start_component "$name"
      return 1
    fi
    log "ERROR: $name exited after the restart; last lines of $LOGS/$name.log:"
    tail -n 20 "$LOGS/$name.log" >&2
    exit 1
  fi
  case $name in
    etcd) etcd_ok ;;
    kube-apiserver) [[ "$(admin_curl /readyz 2>/dev/null)" == ok ]] ;;
    *) ((SECONDS - start >= 1)) ;;
  esac
}
deadline=$((SECONDS + TIMEOUT))
until ready; do
  ((SECONDS < deadline)) || { log "ERROR: $name not healthy ${TIMEOUT}s after the restart; see $LOGS/$name.log"; exit 1; }
  sleep 0.1
done
log "restarted $name (pid $(cat "$PIDS/$name.pid")), healthy after $((SECONDS - start)) s"
