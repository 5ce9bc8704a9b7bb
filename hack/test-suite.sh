#!/usr/bin/env bash
# The whole test suite, run by `make test` with KUBECONFIG pointing at the
# test control plane (hack/with-cluster.sh): chart lint and validation, a
# real helm install, then every cargo test target. cargo's summary comes
# last so it closes the output.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "[test] helm lint + kubeconform" >&2
hack/chart-check.sh
echo "[test] helm install into the control plane" >&2
hack/chart-install-test.sh
# tests/chaos.rs runs its reduced round on a control plane of its own
# (target/cluster-chaos, started by the suite), tests/managed.rs on one with
# the built-in CronJob controller on (target/cluster-managed, which it stops
# itself unless it was killed): stop them afterwards.
stop_own_clusters() {
  local rc=$? dir
  if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then
    for dir in target/cluster-chaos target/cluster-managed; do
      KRONJOB_CLUSTER_DIR=$dir hack/cluster-down.sh >/dev/null 2>&1 || true
    done
  fi
  exit "$rc"
}
trap stop_own_clusters EXIT
echo "[test] cargo test (unit, differential, integration, e2e, chaos)" >&2
# The e2e tests mostly wait on the API server: run many at once.
# --features failpoints: the suites inject faults (src/failpoints.rs).
RUST_TEST_THREADS="${RUST_TEST_THREADS:-16}" cargo test --locked --all-targets --features failpoints
