#!/usr/bin/env bash
# `make run`: the controller in the foreground. With $KUBECONFIG set it runs
# against that cluster as is; otherwise it starts the local control plane
# (building it on first use), applies examples/hello-cronjob.yaml and runs
# kronjob there, so Jobs appear every minute:
#   kubectl --kubeconfig target/cluster/kubeconfig get jobs -w
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --locked
if [[ -z "${KUBECONFIG:-}" ]]; then
  hack/ensure-deps.sh
  hack/build-k8s.sh
  KUBECONFIG="$(hack/cluster-up.sh | tail -n 1)"
  export KUBECONFIG
  KUBECTL="${KRONJOB_CACHE:-$HOME/.cache/kronjob}/k8s-v1.36.3/bin/kubectl"
  "$KUBECTL" apply -f examples/hello-cronjob.yaml
  echo "[run] example CronJob applied; watch with: $KUBECTL --kubeconfig $KUBECONFIG get cronjobs,jobs -w" >&2
  echo "[run] stop the control plane afterwards with: make cluster-down" >&2
fi
exec target/debug/kronjob run --metrics-addr "${KRONJOB_METRICS_ADDR:-127.0.0.1:8080}"
