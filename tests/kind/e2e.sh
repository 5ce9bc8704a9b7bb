#!/usr/bin/env bash
# End-to-end test on a real (kind) cluster whose kube-controller-manager runs
# without the built-in CronJob controller:
#
#   1. create the kind cluster from tests/kind/cluster.yaml
#   2. docker build the kronjob image and kind-load it into the node
#   3. helm install charts/kronjob with that image (imagePullPolicy Never),
#      drop-in mode: serve={cronjobs,kronjobs}
#   4. smoke-test the installed controller (the example CronJob gets a Job),
#      uninstall it, and run the e2e test suite against the cluster:
#        KUBECONFIG=<kind kubeconfig> cargo test --test '*'
#      (each test runs its own namespace-scoped controller)
#   5. delete the cluster, whatever happened
#
# Needs a Docker engine, kind >= v0.32.0 (built from its Go module into the
# cache when it is not on PATH), go, cargo and kubectl. helm comes from
# hack/build-tools.sh.
#
# Environment:
#   KIND_CLUSTER_NAME   cluster name (default kronjob-e2e-<pid>)
#   KRONJOB_IMAGE       image reference to build and load (default kronjob:e2e)
#   KEEP_CLUSTER=1      do not delete the cluster at the end (debugging)
#   KRONJOB_CACHE       tool cache root (default ~/.cache/kronjob)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${KRONJOB_CACHE:-$HOME/.cache/kronjob}"
KIND_VERSION="${KIND_VERSION:-v0.32.0}"
CLUSTER="${KIND_CLUSTER_NAME:-kronjob-e2e-$$}"
IMAGE="${KRONJOB_IMAGE:-kronjob:e2e}"
RELEASE=kronjob
NAMESPACE=kronjob-system

log() { echo "e2e-kind: $*" >&2; }

command -v docker >/dev/null || { log "docker is required"; exit 1; }
docker info >/dev/null 2>&1 || { log "no Docker engine is reachable"; exit 1; }

eval "$("$ROOT/hack/build-tools.sh" --env)"

KUBECTL="$(command -v kubectl || true)"
[[ -n "$KUBECTL" ]] || KUBECTL="$CACHE/k8s-v1.36.3/bin/kubectl"
[[ -x "$KUBECTL" ]] || { log "kubectl not found"; exit 1; }

KIND="$(command -v kind || true)"
if [[ -z "$KIND" ]]; then
  KIND="$CACHE/tools/kind-$KIND_VERSION/kind"
  if [[ ! -x "$KIND" ]]; then
    log "building kind $KIND_VERSION ..."
    GOBIN="$(dirname "$KIND")" GOFLAGS=-trimpath CGO_ENABLED=0 \
      GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" \
      go install "sigs.k8s.io/kind@$KIND_VERSION"
  fi
fi

WORK="$(mktemp -d)"
export KUBECONFIG="$WORK/kubeconfig"

cleanup() {
  local rc=$?
  if (( rc != 0 )); then
    log "FAILED (exit $rc); controller state:"
    "$KUBECTL" -n "$NAMESPACE" get deploy,pods,lease -o wide 2>&1 || true
    "$KUBECTL" -n "$NAMESPACE" logs -l app.kubernetes.io/instance=$RELEASE \
      --all-containers --prefix --tail=200 2>&1 || true
  fi
  if [[ "${KEEP_CLUSTER:-}" == 1 ]]; then
    log "keeping cluster $CLUSTER (KUBECONFIG=$KUBECONFIG)"
  else
    log "deleting cluster $CLUSTER"
    "$KIND" delete cluster --name "$CLUSTER" || true
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT

log "creating cluster $CLUSTER"
"$KIND" create cluster --name "$CLUSTER" --config "$ROOT/tests/kind/cluster.yaml" \
  --kubeconfig "$KUBECONFIG" --wait 3m

# The whole point: the built-in CronJob controller must be off.
"$KUBECTL" -n kube-system get pods -l component=kube-controller-manager \
    -o jsonpath='{.items[*].spec.containers[*].command}' |
  grep -q -- '--controllers=\*,-cronjob-controller' || {
    log "kube-controller-manager still runs the built-in CronJob controller"; exit 1; }

log "building image $IMAGE"
docker build -t "$IMAGE" "$ROOT"
"$KIND" load docker-image "$IMAGE" --name "$CLUSTER"

log "installing the chart"
"$HELM" install "$RELEASE" "$ROOT/charts/kronjob" \
  --namespace "$NAMESPACE" --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" \
  --set image.pullPolicy=Never \
  --set 'serve={cronjobs,kronjobs}' \
  --wait --timeout 3m
"$KUBECTL" -n "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout=2m

log "waiting for a leader"
for _ in $(seq 60); do
  holder="$("$KUBECTL" -n "$NAMESPACE" get lease kronjob -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)"
  [[ -n "$holder" ]] && break
  sleep 2
done
[[ -n "$holder" ]] || { log "no replica took the leader lease"; exit 1; }
log "leader: $holder"

log "smoke: the installed controller runs a CronJob"
"$KUBECTL" create namespace kronjob-smoke
sed 's/namespace: default/namespace: kronjob-smoke/' "$ROOT/examples/hello-cronjob.yaml" | "$KUBECTL" apply -f -
for _ in $(seq 60); do
  jobs="$("$KUBECTL" -n kronjob-smoke get jobs -o name 2>/dev/null || true)"
  [[ -n "$jobs" ]] && break
  sleep 2
done
[[ -n "$jobs" ]] || { log "the installed controller created no Job within 2 minutes"; exit 1; }
log "created: $jobs"
"$KUBECTL" delete namespace kronjob-smoke --wait=false

# The suite starts one controller per test, each watching only its own
# namespace; an installed controller watching all namespaces would act on
# them too, so it is removed first.
log "uninstalling the chart before the suite"
"$HELM" uninstall "$RELEASE" --namespace "$NAMESPACE" --wait

log "running the e2e suite"
(cd "$ROOT" && cargo test --locked --test '*')
log "OK"
