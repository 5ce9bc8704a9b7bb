#!/usr/bin/env bash
# The full fault-injection round of tests/chaos.rs (`make chaos`): at least
# 50 leader kills, kube-apiserver and etcd restarts, partitions, RBAC
# revocations, on the suite's own control plane (target/cluster-chaos),
# which is stopped afterwards unless KEEP_CLUSTER=1. The figures of each
# test are appended to target/test-logs/chaos-summary.log.
#
# Environment (docs/testing.md):
#   KRONJOB_CHAOS_MINUTES   minute boundaries (bursts) per test (default: each test's full count)
#   KRONJOB_CHAOS_CRONJOBS  CronJobs per test (default: each test's own)
#   KRONJOB_CHAOS_SEED      replay the fault times of an earlier run (printed at the start)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stop() {
  local rc=$?
  if [[ "${KEEP_CLUSTER:-0}" == 1 ]]; then
    echo "[chaos] KEEP_CLUSTER=1: target/cluster-chaos keeps running; stop it with make cluster-down" >&2
  else
    KRONJOB_CLUSTER_DIR=target/cluster-chaos hack/cluster-down.sh >/dev/null 2>&1 || rc=1
  fi
  exit "$rc"
}
trap stop EXIT

hack/ensure-deps.sh
hack/build-k8s.sh
hack/build-tools.sh
start=$SECONDS
# Every test at once (cargo's default is one per CPU): the tests of one
# kronjob process's faults run side by side, the control-plane one alone.
KRONJOB_CHAOS=1 KRONJOB_CHAOS_FULL=1 RUST_TEST_THREADS="${RUST_TEST_THREADS:-16}" \
  cargo test --locked --test chaos -- --nocapture
echo "[chaos] full round took $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s; figures in target/test-logs/chaos-summary.log" >&2
