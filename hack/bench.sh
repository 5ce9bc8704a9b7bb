#!/usr/bin/env bash
# make bench: kronjob against kube-controller-manager's built-in CronJob
# controller (default and tuned client settings), one contender at a time, on a
# local control plane whose controller-manager runs WITHOUT the job and CronJob
# controllers (Jobs are only created, never run). See docs/benchmarks.md.
#
#   hack/bench.sh            full run (N = 1, 100, 1000, 5000; 2 minute boundaries each)
#   hack/bench.sh --quick    reduced run (N = 1, 100; 1 boundary; 500 steady CronJobs; 20 s idle)
#
# Environment (all optional): BENCH_NS=1,100  BENCH_BOUNDARIES=2  BENCH_STEADY=5000
#   BENCH_IDLE_SECS=60  BENCH_WORKLOADS=raw,writes,steady,latency
#   BENCH_CONTENDERS=kronjob,upstream-default,upstream-tuned (or kronjob@PATH: another build)
#   KEEP_CLUSTER=1 BENCH_KEEP_OBJECTS=1
# The table goes to stdout, progress to stderr, the rows as JSON to
# target/bench/results.json, the contenders' logs to target/bench/logs/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"
cd "$ROOT"

export KRONJOB_KCM_CONTROLLERS="${KRONJOB_KCM_CONTROLLERS:-garbage-collector-controller,namespace-controller,node-lifecycle-controller}"
case ",$KRONJOB_KCM_CONTROLLERS," in
  *,\**|*,job-controller,*|*,cronjob-controller,*) echo "bench: the controller-manager must not run the job/cronjob controllers" >&2; exit 1 ;;
esac

cargo build --release --locked -p kronjob -p kronjob-bench >&2

if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then
  trap 'hack/cluster-down.sh >&2 || true' EXIT
fi
# Reuses a healthy bench cluster; replaces a test cluster (other controllers).
kubeconfig=$(hack/cluster-up.sh | tail -n 1)

rm -rf target/bench
mkdir -p target/bench
KUBECONFIG="$kubeconfig" BENCH_PIDS="$PIDS" BENCH_KCM="$BIN/kube-controller-manager" BENCH_KRONJOB="$ROOT/target/release/kronjob" \
  timeout --foreground 5400 target/release/kronjob-bench "$@"
