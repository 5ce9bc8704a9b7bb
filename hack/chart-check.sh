#!/usr/bin/env bash
# Lint and validate the Helm chart offline.
#
#  1. helm lint --strict, with the default values and every charts/kronjob/ci/*.yaml
#  2. helm template | kubeconform -strict, for the same value sets (the ci/
#     files turn the ServiceMonitor and PrometheusRule on, cluster-wide and
#     namespace-scoped), against JSON schemas generated from the Kubernetes
#     v1.36.3 OpenAPI document in the k8s.io/kubernetes Go module
#  3. every PrometheusRule expression parses; `promtool test rules` runs the
#     alert unit tests of hack/alerts/rules.test.yaml on the rendered rules
#  4. a few assertions on what the chart must (not) render
#
# Tools and schemas are cached under ${KRONJOB_CACHE:-~/.cache/kronjob}; the
# first run builds helm and kubeconform from source (see hack/build-tools.sh).
# Exits non-zero on the first lint or validation error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="$ROOT/charts/kronjob"
CACHE="${KRONJOB_CACHE:-$HOME/.cache/kronjob}"
K8S_VERSION="${K8S_VERSION:-1.36.3}"
SCHEMAS="$CACHE/kubeconform-schemas/v$K8S_VERSION"

log() { echo "chart-check: $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

eval "$("$ROOT/hack/build-tools.sh" --env)"

# --- schemas ---------------------------------------------------------------
gen="$ROOT/hack/kubeconform-schemas.py"
stamp="$(sha256sum "$gen" | cut -c1-16)"
if [[ "$(cat "$SCHEMAS/.generator" 2>/dev/null || true)" != "$stamp" ]]; then
  log "generating kubeconform schemas for Kubernetes v$K8S_VERSION ..."
  # The OpenAPI v2 document ships in the k8s.io/kubernetes module zip
  # (api/openapi-spec/swagger.json); the module proxy is all we need.
  dir="$(cd "$CACHE" && GOMODCACHE="$CACHE/go/mod" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["Error"]) if "Error" in d else print(d["Dir"])')"
  python3 "$gen" --openapi "$dir/api/openapi-spec/swagger.json" --out "$SCHEMAS"
  echo "$stamp" > "$SCHEMAS/.generator"
else
  log "kubeconform schemas for v$K8S_VERSION: cached at $SCHEMAS"
fi

kubeconform() {
  "$KUBECONFORM" -strict -summary -kubernetes-version "$K8S_VERSION" \
    -schema-location "$SCHEMAS/standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$@"
}

render() { # render NAME [helm template args...]
  local name=$1; shift
  "$HELM" template kronjob "$CHART" --namespace kronjob-system \
    --kube-version "$K8S_VERSION" "$@" 2>"$tmp/$name.err" >"$tmp/$name.yaml" ||
    { cat "$tmp/$name.err" >&2; fail "helm template ($name)"; }
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The validator must really be strict: a misspelt field has to be rejected.
cat >"$tmp/bad.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  ports: [{port: 80, targetPrt: 8080}]
YAML
if kubeconform "$tmp/bad.yaml" >"$tmp/bad.out" 2>&1 ||
   ! grep -q "additional properties 'targetPrt' not allowed" "$tmp/bad.out"; then
  cat "$tmp/bad.out" >&2
  fail "kubeconform did not reject an unknown field: the schemas are not strict"
fi

# --- value sets -------------------------------------------------------------
sets=("default:")
for f in "$CHART"/ci/*.yaml; do sets+=("$(basename "$f" .yaml):$f"); done

for entry in "${sets[@]}"; do
  name="${entry%%:*}" file="${entry#*:}"
  args=(); [[ -n "$file" ]] && args=(-f "$file")
  log "[$name] helm lint --strict"
  "$HELM" lint --strict --kube-version "$K8S_VERSION" "$CHART" "${args[@]}" >"$tmp/lint.out" 2>&1 ||
    { cat "$tmp/lint.out" >&2; fail "helm lint ($name)"; }
  log "[$name] helm template --include-crds | kubeconform -strict"
  render "$name" --include-crds "${args[@]}"
  kubeconform "$tmp/$name.yaml" || fail "kubeconform ($name)"
  grep -q '^  name: kronjobs.kronjob.dev$' "$tmp/$name.yaml" || fail "[$name] the KronJob CRD is not in crds/"
done

# --- alert rules: every PromQL expression must parse ------------------------
VENV="$CACHE/venv-chart-check"
PY_DEPS=(promql-parser==0.11.0 PyYAML==6.0.3)
if [[ "$(cat "$VENV/.deps" 2>/dev/null || true)" != "${PY_DEPS[*]}" ]]; then
  log "installing ${PY_DEPS[*]} into $VENV ..."
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_DEPS[@]}"
  echo "${PY_DEPS[*]}" > "$VENV/.deps"
fi
for name in default-values namespaced-values; do
  log "[$name] PrometheusRule: parse PromQL, check metric names and alert fields"
  "$VENV/bin/python" - "$tmp/$name.yaml" <<'PY' || fail "PrometheusRule ($name)"
import re, sys
import promql_parser, yaml

# The controller's metric names (src/ owns them); a typo here would make an
# alert silently never fire.
KNOWN = {
    "kronjob_cronjob_last_schedule_time_seconds",
    "kronjob_cronjob_last_successful_time_seconds",
    "kronjob_cronjob_next_schedule_time_seconds",
    "kronjob_slots_missed_total",
    "kronjob_jobs_created_total",
    "kronjob_leader",
    "kronjob_cronjob_last_failure_time_seconds",
    "kronjob_foreign_jobs_total",
}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
errors, alerts = [], set()
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
if not docs:
    errors.append("no PrometheusRule rendered")
for doc in docs:
    for group in doc["spec"]["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            if name in alerts:
                errors.append(f"{name}: duplicate")
            alerts.add(name)
            try:
                promql_parser.parse(rule["expr"])
            except Exception as e:  # the parser raises plain exceptions
                errors.append(f"{name}: expr does not parse: {e}")
            for metric in set(re.findall(r"\bkronjob_[a-z_]+", rule["expr"])) - KNOWN:
                errors.append(f"{name}: unknown metric {metric}")
            if "for" in rule and not DURATION.match(rule["for"]):
                errors.append(f"{name}: bad for: {rule['for']!r}")
            if "alert" in rule:
                if "severity" not in rule.get("labels", {}):
                    errors.append(f"{name}: no severity label")
                ann = rule.get("annotations", {})
                for key in ("summary", "description"):
                    if not ann.get(key):
                        errors.append(f"{name}: no {key} annotation")
                for key, text in ann.items():
                    if text.count("{{") != text.count("}}"):
                        errors.append(f"{name}: unbalanced template in {key}")
for e in errors:
    print("  " + e, file=sys.stderr)
print(f"  {len(alerts)} alerts checked", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
done

# --- alert rules: unit tests (hack/alerts/rules.test.yaml) -----------------
# The rule groups of the PrometheusRule rendered with ci/default-values.yaml
# (release kronjob: job="kronjob-metrics") are exactly a Prometheus rule file.
command -v promtool >/dev/null ||
  fail "promtool not found: run hack/ensure-deps.sh (Debian package prometheus)"
log "[default-values] promtool check rules + test rules (hack/alerts/rules.test.yaml)"
mkdir -p "$tmp/alerts"
"$VENV/bin/python" - "$tmp/default-values.yaml" "$tmp/alerts/rules.yaml" <<'PY' || fail "extract the PrometheusRule's spec"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
assert len(docs) == 1, f"{len(docs)} PrometheusRules rendered"
yaml.safe_dump(docs[0]["spec"], open(sys.argv[2], "w"), sort_keys=False)
PY
cp "$ROOT/hack/alerts/rules.test.yaml" "$tmp/alerts/"
promtool check rules "$tmp/alerts/rules.yaml" >"$tmp/promtool.out" 2>&1 ||
  { cat "$tmp/promtool.out" >&2; fail "promtool check rules"; }
# Every alert the chart ships must be tested.
untested="$("$VENV/bin/python" - "$tmp/alerts/rules.yaml" "$tmp/alerts/rules.test.yaml" <<'PY'
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
tests = yaml.safe_load(open(sys.argv[2]))
alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
tested = {a["alertname"] for t in tests["tests"] for a in t.get("alert_rule_test", [])}
print(" ".join(sorted(alerts - tested)))
PY
)"
[[ -z "$untested" ]] || fail "alerts without a test in hack/alerts/rules.test.yaml: $untested"
promtool test rules "$tmp/alerts/rules.test.yaml" >"$tmp/promtool.out" 2>&1 ||
  { cat "$tmp/promtool.out" >&2; fail "promtool test rules"; }

# --- assertions on the rendered objects ------------------------------------
kinds() { grep -E '^kind: ' "$1" | sort | uniq -c | awk '{print $3"="$1}' | tr '\n' ' '; }

log "assertions"
render full --set serviceMonitor.enabled=true --set prometheusRule.enabled=true
k="$(kinds "$tmp/full.yaml")"
for want in ClusterRole=1 ClusterRoleBinding=1 Role=1 RoleBinding=1 Deployment=1 \
            PodDisruptionBudget=1 Service=1 ServiceAccount=1 ServiceMonitor=1 PrometheusRule=1; do
  [[ " $k " == *" $want "* ]] || fail "default mode: expected $want, got: $k"
done
grep -q -- '- --leader-elect$' "$tmp/full.yaml" || fail "leader election is not on by default"
grep -q 'fieldPath: metadata.name' "$tmp/full.yaml" || fail "POD_NAME is not set from the downward API"
! grep -q -- '--namespace=' "$tmp/full.yaml" || fail "default mode must watch all namespaces"
# Nothing beyond the documented verbs may be granted.
verbs="$(grep -E '^\s+verbs:' "$tmp/full.yaml" | sort | uniq -c | tr -s ' ')"
for v in '"\*"' 'deletecollection' 'escalate' 'bind' 'impersonate'; do
  ! grep -qE "$v" <<<"$verbs" || fail "RBAC grants $v"
done
# The default serves KronJobs only: safe where the built-in CronJob
# controller runs (a managed cluster). It cannot even read batch/v1 CronJobs.
grep -q -- '- --serve=kronjobs$' "$tmp/full.yaml" || fail "the default must serve kronjobs only"
! grep -qE 'resources: \["cronjobs' "$tmp/full.yaml" || fail "the default must grant nothing on batch/v1 CronJobs"
# Without it every Job create is refused where OwnerReferencesPermissionEnforcement runs.
grep -qF 'resources: ["kronjobs/finalizers"]' "$tmp/full.yaml" || fail "no update on kronjobs/finalizers"

# Both kinds (a self-managed cluster with the built-in controller off).
render both --set 'serve={cronjobs,kronjobs}'
grep -q -- '- --serve=cronjobs,kronjobs$' "$tmp/both.yaml" || fail "serve={cronjobs,kronjobs}: --serve flag"
for r in '"cronjobs"\]$' '"cronjobs/status"\]$' '"cronjobs/finalizers"\]$' '"kronjobs"\]$' '"kronjobs/status"\]$' '"kronjobs/finalizers"\]$'; do
  grep -qE "resources: \[$r" "$tmp/both.yaml" || fail "serve={cronjobs,kronjobs}: no rule for $r"
done
# patch on cronjobs: the run-now-handled annotation; nothing patches a KronJob itself.
grep -A1 -F 'resources: ["cronjobs"]' "$tmp/both.yaml" | grep -qF 'verbs: ["get", "list", "watch", "patch"]' ||
  fail "serve cronjobs: get, list, watch, patch on cronjobs"
grep -A1 -F 'resources: ["kronjobs"]' "$tmp/both.yaml" | grep -qF 'verbs: ["get", "list", "watch"]' ||
  fail "serve kronjobs: get, list, watch on kronjobs"
render cronjobs --set 'serve={cronjobs}'
! grep -qF 'apiGroups: ["kronjob.dev"]' "$tmp/cronjobs.yaml" || fail "serve={cronjobs} must grant nothing on KronJobs"
for bad in '{}' '{jobs}' '{kronjobs,kronjobs}'; do
  if "$HELM" template kronjob "$CHART" --set "serve=$bad" >/dev/null 2>&1; then
    fail "values.schema.json must reject serve=$bad"
  fi
done

render ns --set 'watchNamespaces={team-a,team-b}'
k="$(kinds "$tmp/ns.yaml")"
[[ " $k " != *" ClusterRole="* && " $k " != *" ClusterRoleBinding="* ]] ||
  fail "namespace-scoped mode must not render cluster-scoped RBAC: $k"
[[ " $k " == *" Role=3 "* && " $k " == *" RoleBinding=3 "* ]] ||
  fail "namespace-scoped mode: expected 2 workload Roles + 1 lease Role: $k"
[[ "$(grep -c -- '- --namespace=team-' "$tmp/ns.yaml")" == 2 ]] || fail "--namespace flags missing"

render single --set replicaCount=1
! grep -q '^kind: PodDisruptionBudget' "$tmp/single.yaml" || fail "PDB rendered for a single replica"

if "$HELM" template kronjob "$CHART" --set replicaCount=2 --set leaderElection.enabled=false >/dev/null 2>&1; then
  fail "2 replicas without leader election must be refused"
fi
if "$HELM" template kronjob "$CHART" --set logFormat=xml >/dev/null 2>&1; then
  fail "values.schema.json must reject logFormat=xml"
fi

log "OK: chart lints and validates against Kubernetes v$K8S_VERSION (${#sets[@]} value sets)"
