#!/usr/bin/env bash
# Install the chart into a running cluster and check that it comes up, then
# remove everything again. Meant for the local kwok control plane: kwok fakes
# the pod lifecycle, so the image is never pulled and need not exist.
#
#   KUBECONFIG=... hack/chart-install-test.sh
#
# Two installs, each into fresh namespaces and under a unique release name:
#   1. cluster-wide mode (defaults: serve KronJobs only): the CRD installed
#      from crds/, Deployment available with 2 replicas, and the
#      ServiceAccount's permissions are exactly the documented ones for
#      KronJobs and none on batch/v1 CronJobs (checked with `kubectl auth
#      can-i` against the real authorizer)
#   2. namespace-scoped mode (watchNamespaces) serving both kinds:
#      permissions for both, only in the watched namespace, nothing
#      cluster-wide
# Every release and namespace it created is removed on exit, pass or fail.
#
# Environment: KUBECONFIG (required), KRONJOB_CACHE (tool cache root),
# INSTALL_TIMEOUT (helm --timeout, default 2m).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KRONJOB_CACHE:-$HOME/.cache/kronjob}"
TIMEOUT="${INSTALL_TIMEOUT:-2m}"

log() { echo "chart-install-test: $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

[[ -n "${KUBECONFIG:-}" && -r "${KUBECONFIG%%:*}" ]] || fail "set KUBECONFIG to the test cluster's kubeconfig"

eval "$("$ROOT/hack/build-tools.sh" --env)"
KUBECTL="$CACHE/k8s-v1.36.3/bin/kubectl"
[[ -x "$KUBECTL" ]] || KUBECTL="$(command -v kubectl)" || fail "kubectl not found"
k() { "$KUBECTL" --request-timeout=30s "$@"; }

k get --raw /readyz >/dev/null || fail "the cluster at $KUBECONFIG is not reachable"

id="$(date +%s)-$RANDOM"
REL="kronjob-it-${id##*-}"
NS="kronjob-it-$id"          # release namespace
WATCHED="kronjob-it-$id-a"   # watched in namespace-scoped mode
OTHER="kronjob-it-$id-b"     # never watched
IMAGE_ARGS=(--set image.repository=kronjob.invalid/kronjob --set image.tag=never-pulled
            --set image.pullPolicy=IfNotPresent)

releases=()
cleanup() {
  local rc=$? r
  if (( rc != 0 )); then
    k -n "$NS" get deploy,rs,pods,events 2>&1 | tail -40 >&2 || true
  fi
  for r in "${releases[@]+"${releases[@]}"}"; do
    "$HELM" uninstall "$r" --namespace "$NS" --wait --timeout 1m >/dev/null 2>&1 ||
      log "warning: helm uninstall $r failed"
  done
  k delete namespace "$NS" "$WATCHED" "$OTHER" --ignore-not-found --wait=false >/dev/null || true
  exit $rc
}
trap cleanup EXIT

for n in "$NS" "$WATCHED" "$OTHER"; do k create namespace "$n" >/dev/null; done
SA="system:serviceaccount:$NS:$REL"   # fullname == release name (it contains "kronjob")

# can VERB RESOURCE[/NAME] NAMESPACE|- [kubectl auth can-i flags...]
#   -> yes/no from the API server's authorizer
can() {
  local verb=$1 res=$2 ns=$3; shift 3
  local ns_args=(--all-namespaces)
  [[ "$ns" != - ]] && ns_args=(-n "$ns")
  k auth can-i "$verb" "$res" --as "$SA" "${ns_args[@]}" "$@" 2>/dev/null || true
}
expect() { # expect yes|no VERB RESOURCE[/NAME] NS [flags...]
  local want=$1; shift
  local got; got="$(can "$@")"
  [[ "$got" == "$want" ]] || fail "can-i $* ($SA): expected $want, got ${got:-error}"
}

install() { # install RELEASE [helm args...]
  local r=$1; shift
  log "helm install $r $*"
  releases+=("$r")
  "$HELM" install "$r" "$ROOT/charts/kronjob" --namespace "$NS" "${IMAGE_ARGS[@]}" \
    --wait --timeout "$TIMEOUT" "$@" >/dev/null
  k -n "$NS" wait --for=condition=Available "deployment/$r" --timeout=60s >/dev/null ||
    fail "deployment/$r did not become Available"
  local ready; ready="$(k -n "$NS" get deployment "$r" -o jsonpath='{.status.readyReplicas}')"
  [[ "$ready" == 2 ]] || fail "deployment/$r: $ready ready replicas, expected 2"
  k -n "$NS" get pdb "$r" >/dev/null || fail "PodDisruptionBudget $r missing"
}

uninstall() { # uninstall RELEASE
  log "helm uninstall $1"
  "$HELM" uninstall "$1" --namespace "$NS" --wait --timeout 1m >/dev/null
  local r kept=()
  for r in "${releases[@]+"${releases[@]}"}"; do [[ "$r" == "$1" ]] || kept+=("$r"); done
  releases=("${kept[@]+"${kept[@]}"}")
}

# --- 1. cluster-wide mode, the default kinds (KronJobs) ---------------------
install "$REL"
k get crd kronjobs.kronjob.dev >/dev/null || fail "the KronJob CRD was not installed from crds/"
for ns in "$WATCHED" "$OTHER"; do
  expect yes list kronjobs.kronjob.dev "$ns"
  expect yes watch kronjobs.kronjob.dev "$ns"
  expect yes patch kronjobs.kronjob.dev "$ns" --subresource=status
  expect no update kronjobs.kronjob.dev "$ns" --subresource=status
  expect no patch kronjobs.kronjob.dev "$ns"  # the spec and metadata are the user's
  # OwnerReferencesPermissionEnforcement: blockOwnerDeletion on the Jobs.
  expect yes update kronjobs.kronjob.dev "$ns" --subresource=finalizers
  # Safe beside the built-in CronJob controller: batch/v1 CronJobs are not touched.
  expect no list cronjobs.batch "$ns"
  expect no patch cronjobs.batch "$ns" --subresource=status
  expect no update cronjobs.batch "$ns" --subresource=finalizers
  expect yes create jobs.batch "$ns"
  expect yes delete jobs.batch "$ns"
  expect yes create events.events.k8s.io "$ns"
  expect yes patch events.events.k8s.io "$ns"
  expect no create events "$ns"               # core/v1 Events are not used
  expect no delete pods "$ns"                 # the garbage collector does that
done
expect yes list kronjobs.kronjob.dev -
expect no update kronjobs.kronjob.dev "$OTHER"
expect no delete kronjobs.kronjob.dev "$OTHER"
expect no list cronjobs.batch -
expect no update jobs.batch "$OTHER"
expect no create pods "$OTHER"
expect no get secrets "$OTHER"
expect no create leases.coordination.k8s.io "$OTHER"
expect yes create leases.coordination.k8s.io "$NS"
expect yes update leases.coordination.k8s.io/kronjob "$NS"
expect no update leases.coordination.k8s.io/someone-else "$NS"
k -n "$NS" get deployment "$REL" -o jsonpath='{.spec.template.spec.containers[0].args}' |
  grep -q -- '"--serve=kronjobs"' || fail "--serve=kronjobs not passed to the controller"
uninstall "$REL"
k get clusterrole "$REL" >/dev/null 2>&1 && fail "ClusterRole $REL left behind by helm uninstall"

# --- 2. namespace-scoped mode, both kinds (a self-managed cluster) ---------
install "$REL" --set "watchNamespaces={$WATCHED}" --set 'serve={cronjobs,kronjobs}'
k get clusterrole "$REL" >/dev/null 2>&1 && fail "namespace-scoped mode created a ClusterRole"
expect yes list cronjobs.batch "$WATCHED"
# The run-now-handled annotation (a CronJob's status has no field for it).
expect yes patch cronjobs.batch "$WATCHED"
expect no update cronjobs.batch "$WATCHED"
expect yes patch cronjobs.batch "$WATCHED" --subresource=status
expect yes update cronjobs.batch "$WATCHED" --subresource=finalizers
expect yes list kronjobs.kronjob.dev "$WATCHED"
expect yes patch kronjobs.kronjob.dev "$WATCHED" --subresource=status
expect yes update kronjobs.kronjob.dev "$WATCHED" --subresource=finalizers
expect yes create jobs.batch "$WATCHED"
expect yes create events.events.k8s.io "$WATCHED"
expect no update cronjobs.batch "$OTHER" --subresource=finalizers
expect no update kronjobs.kronjob.dev "$OTHER" --subresource=finalizers
expect no list cronjobs.batch "$OTHER"
expect no list kronjobs.kronjob.dev "$OTHER"
expect no create jobs.batch "$OTHER"
expect no list cronjobs.batch -
expect no list kronjobs.kronjob.dev -
expect yes create leases.coordination.k8s.io "$NS"
args="$(k -n "$NS" get deployment "$REL" -o jsonpath='{.spec.template.spec.containers[0].args}')"
grep -q -- "--namespace=$WATCHED" <<<"$args" || fail "--namespace=$WATCHED not passed to the controller"
grep -q -- '"--serve=cronjobs,kronjobs"' <<<"$args" || fail "--serve=cronjobs,kronjobs not passed to the controller"
uninstall "$REL"

log "OK: chart installs (with the KronJob CRD), becomes available and uninstalls cleanly in both modes, for each set of kinds"
