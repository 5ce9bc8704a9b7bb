#!/usr/bin/env bash
# make bench: kronjob against kube-controller-manager's built-in CronJob
# controller (default and tuned client settings), one contender at a time, on a
# local control plane whose controller-manager runs WITHOUT the job and CronJob
# controllers (Jobs are only created, never run). See docs/benchmarks.md.
#
#   hack/bench.sh            full run (bursts at N = 1, 100, 1000, 5000, 3 rounds; APF; 5000
#                            and 50 000 CronJobs at steady state): about 2 h 30 min
#   hack/bench.sh --quick    reduced run (N = 1, 100; 1 round; APF at N = 100; 500 and
#                            2000 CronJobs; 20 s idle windows)
#
# Environment (all optional; docs/benchmarks.md): BENCH_NS=1,100  BENCH_ROUNDS=3
#   BENCH_BOUNDARIES=1  BENCH_STEADY=5000  BENCH_SCALE=50000  BENCH_IDLE_SECS=60
#   BENCH_RELIST_SECS=60  BENCH_APF_N=1000  BENCH_APF_CONFIGS=quiet,noise,noise+flowschema,upstream-noise
#   BENCH_NOISE_USERS=16  BENCH_NOISE_CONCURRENCY=16
#   BENCH_WORKLOADS=raw,writes,latency,apf,steady,scale
#   BENCH_CONTENDERS=kronjob,upstream-default,upstream-tuned (or kronjob@PATH: another build)
#   BENCH_SCALE_CONTENDERS (default: BENCH_CONTENDERS without upstream-default)
#   KEEP_CLUSTER=1 BENCH_KEEP_OBJECTS=1  BENCH_REUSE_OBJECTS=1 (skip the set-up of the
#   steady/scale workload when a KEEP_OBJECTS run left exactly its objects, < 18 h ago)
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
eval "$(hack/build-tools.sh --env)" # helm renders the chart's RBAC and FlowSchema

if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then
  trap 'hack/cluster-down.sh >&2 || true' EXIT
fi
# Reuses a healthy bench cluster; replaces a test cluster (other controllers).
kubeconfig=$(hack/cluster-up.sh | tail -n 1)

load_ports

rm -rf target/bench
mkdir -p target/bench/apf
# The APF workload runs kronjob as the chart's ServiceAccount (release
# kronjob in namespace kronjob-bench), with and without its FlowSchema. It
# serves batch/v1 CronJobs, which the chart's default (KronJobs only) grants
# no access to.
render() { "$HELM" template kronjob charts/kronjob --namespace kronjob-bench --set 'serve={cronjobs}' "$@"; }
render --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml >target/bench/apf/rbac.yaml
render --set priorityAndFairness.enabled=true --show-only templates/flowcontrol.yaml >target/bench/apf/flowschema.yaml

# Without KEEP_CLUSTER the control plane is stopped at the end anyway: the
# driver need not delete 200 000 objects first.
final_cleanup=1
[[ "${KEEP_CLUSTER:-0}" == 1 ]] || final_cleanup=0
KUBECONFIG="$kubeconfig" BENCH_PIDS="$PIDS" BENCH_KCM="$BIN/kube-controller-manager" BENCH_KRONJOB="$ROOT/target/release/kronjob" \
  BENCH_KUBECTL="$BIN/kubectl" BENCH_ETCD_PORT="$ETCD_PORT" BENCH_CLUSTER_RESTART="$HACK_DIR/cluster-restart.sh" \
  BENCH_APF_RBAC="$ROOT/target/bench/apf/rbac.yaml" BENCH_APF_FLOWSCHEMA="$ROOT/target/bench/apf/flowschema.yaml" \
  BENCH_APF_SA=kronjob-bench:kronjob BENCH_FINAL_CLEANUP="${BENCH_FINAL_CLEANUP:-$final_cleanup}" \
  timeout --foreground 14400 target/release/kronjob-bench "$@"
