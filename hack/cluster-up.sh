#!/usr/bin/env bash
# Start the local test control plane (no Docker, no download):
#   etcd, kube-apiserver, kube-controller-manager (built-in CronJob controller
#   disabled), kube-scheduler and kwok with $KRONJOB_FAKE_NODES fake nodes.
# State lives in target/cluster/ (pki/, logs/, pids/, cmd/, etcd data,
# kubeconfig), or in $KRONJOB_CLUSTER_DIR. A healthy cluster already running
# from that directory is reused.
# Progress goes to stderr; the LAST line on stdout is the admin kubeconfig path.
#
# Environment:
#   KRONJOB_CLUSTER_DIR       state directory (default target/cluster; the lock
#                             file is beside it, <dir>.lock)
#   KRONJOB_CACHE             cache root of the built binaries (default ~/.cache/kronjob)
#   KRONJOB_FAKE_NODES        number of kwok nodes (default 2)
#   KRONJOB_CLUSTER_TIMEOUT   seconds to wait for each readiness step (default 90)
#   KRONJOB_KCM_CONTROLLERS   --controllers of the controller-manager (default
#                             '*,-cronjob-controller'; `make bench` runs without
#                             the job controller). A running cluster is reused
#                             only if it was started with the same list.
#   KRONJOB_APISERVER_PROFILING=1  serve the API server's /debug/pprof (to profile
#                             it during a benchmark; docs/benchmarks.md). Not
#                             checked when a running cluster is reused.
#
# The API server runs the admission plugins of a hardened production cluster
# ($ADMISSION_PLUGINS, on top of the default ones) and PodSecurity enforces
# the baseline level by default (docs/testing.md, "What runs"). A running
# cluster started with other plugins is not reused.
set -euo pipefail
# shellcheck source=hack/cluster-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

trap 'log "ERROR: hack/cluster-up.sh failed at line $LINENO; logs in $LOGS; hack/cluster-down.sh cleans up"' ERR

NODES="${KRONJOB_FAKE_NODES:-2}"
TIMEOUT="${KRONJOB_CLUSTER_TIMEOUT:-90}"
KCM_CONTROLLERS="${KRONJOB_KCM_CONTROLLERS:-*,-cronjob-controller}"
# Named explicitly even where on by default, so that the list says what a
# hardened cluster runs: OwnerReferencesPermissionEnforcement (OpenShift and
# many hardened distributions) and NodeRestriction are the ones not on by
# default. Checked in the API server's log after the start.
ADMISSION_PLUGINS="NamespaceLifecycle,LimitRanger,ServiceAccount,ResourceQuota,PodSecurity,NodeRestriction,OwnerReferencesPermissionEnforcement"
start=$SECONDS

take_lock

kubectl_() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

healthy() {
  [[ -f "$STATE/ports.env" && -f "$KUBECONFIG_OUT" ]] || return 1
  load_ports
  local c
  [[ "$(cat "$STATE/kcm-controllers" 2>/dev/null || echo '*,-cronjob-controller')" == "$KCM_CONTROLLERS" ]] || return 1
  [[ "$(cat "$STATE/admission-plugins" 2>/dev/null)" == "$ADMISSION_PLUGINS" ]] || return 1
  for c in "${COMPONENTS[@]}"; do component_pid "$c" >/dev/null || return 1; done
  [[ "$(admin_curl /readyz 2>/dev/null)" == ok ]] || return 1
  nodes_ready
}

# All fake nodes Ready and without taints (the node lifecycle controller
# removes node.kubernetes.io/not-ready once the node reports Ready).
nodes_ready() {
  local out
  out=$(kubectl_ get nodes -l type=kwok --request-timeout=5s -o \
    'jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.spec.taints}{"\n"}{end}' 2>/dev/null) || return 1
  [[ $(grep -c ' True $' <<<"$out") -ge "$NODES" ]]
}

fail() {
  log "ERROR: $*"
  local c
  for c in "${COMPONENTS[@]}"; do
    if [[ -f "$LOGS/$c.log" ]]; then
      log "---- last lines of $LOGS/$c.log ----"
      tail -n 15 "$LOGS/$c.log" >&2 || true
    fi
  done
  log "the processes are left running for inspection; stop them with hack/cluster-down.sh"
  exit 1
}

# wait_until DESCRIPTION COMMAND...: polls COMMAND every 0.2 s until it succeeds
# or $TIMEOUT seconds passed.
wait_until() {
  local what=$1; shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@"; do
    (( SECONDS < deadline )) || fail "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.2
  done
  log "$what ($((SECONDS - start)) s)"
}

if healthy; then
  log "reusing the healthy cluster in $STATE (apiserver https://127.0.0.1:$API_PORT)"
  echo "$KUBECONFIG_OUT"
  exit 0
fi

if [[ -d "$STATE" ]]; then
  log "stale state in $STATE: stopping what is left of it"
  KRONJOB_LOCK_HELD=1 "$HACK_DIR/cluster-down.sh" >&2
fi

for b in "${COMPONENTS[@]}" kubectl; do
  if [[ ! -x "$BIN/$b" ]]; then
    log "binaries missing in $BIN: running hack/build-k8s.sh"
    "$HACK_DIR/build-k8s.sh" >&2
    break
  fi
done
command -v openssl >/dev/null || { log "ERROR: openssl is required"; exit 1; }

mkdir -p "$PKI" "$LOGS" "$PIDS" "$CMDS" "$STATE/etcd" "$STATE/kwok-home"
chmod 700 "$STATE/etcd" "$PKI"

# ---- free loopback ports, picked now (below the ephemeral range) ----------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# pick_ports N: N distinct free ports.
pick_ports() {
  local -A taken=()
  local p n=0
  while ((n < $1)); do
    p=$((20000 + RANDOM % 12000))
    if [[ -z "${taken[$p]:-}" ]] && port_free "$p"; then
      taken[$p]=1
      echo "$p"
      n=$((n + 1))
    fi
  done
}
mapfile -t ports < <(pick_ports 5)
ETCD_PORT=${ports[0]} ETCD_PEER_PORT=${ports[1]} API_PORT=${ports[2]} KCM_PORT=${ports[3]} SCHED_PORT=${ports[4]}
cat > "$STATE/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
API_PORT=$API_PORT
KCM_PORT=$KCM_PORT
SCHED_PORT=$SCHED_PORT
EOF
log "ports: etcd $ETCD_PORT (peer $ETCD_PEER_PORT), apiserver $API_PORT, controller-manager $KCM_PORT, scheduler $SCHED_PORT"

# ---- PKI: one CA, ECDSA P-256 keys (fast to generate) ---------------------
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# sign NAME SUBJECT EXTENSIONS
sign() {
  local name=$1 subj=$2 ext=$3
  newkey "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 3650 -out "$PKI/$name.crt" -extfile <(printf '%b' "$ext") 2>/dev/null
  rm -f "$PKI/$name.csr"
}
newkey "$PKI/ca.key"
openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=kronjob-test-ca" -days 3650 -out "$PKI/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
CLIENT_EXT='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
sign apiserver "/CN=kube-apiserver" \
  'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n'
sign admin "/O=system:masters/CN=kronjob-admin" "$CLIENT_EXT"
sign kube-controller-manager "/CN=system:kube-controller-manager" "$CLIENT_EXT"
sign kube-scheduler "/CN=system:kube-scheduler" "$CLIENT_EXT"
# kwok plays the kubelet of every fake node; it gets full rights.
sign kwok "/O=system:masters/CN=kwok" "$CLIENT_EXT"
# The aggregation layer's front proxy: its CA is published in
# kube-system/extension-apiserver-authentication, which the controller-manager
# and the scheduler read for delegated authentication.
newkey "$PKI/front-proxy-ca.key"
openssl req -x509 -new -key "$PKI/front-proxy-ca.key" -subj "/CN=kronjob-front-proxy-ca" -days 3650 -out "$PKI/front-proxy-ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
newkey "$PKI/front-proxy-client.key"
openssl req -new -key "$PKI/front-proxy-client.key" -subj "/CN=front-proxy-client" 2>/dev/null |
  openssl x509 -req -CA "$PKI/front-proxy-ca.crt" -CAkey "$PKI/front-proxy-ca.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 3650 -out "$PKI/front-proxy-client.crt" -extfile <(printf '%b' "$CLIENT_EXT") 2>/dev/null
newkey "$PKI/sa.key"
openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
log "certificates in $PKI"

# write_kubeconfig FILE USER
write_kubeconfig() {
  local file=$1 user=$2
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kronjob-test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$user.crt")
    client-key-data: $(base64 -w0 < "$PKI/$user.key")
contexts:
- name: kronjob-test
  context:
    cluster: kronjob-test
    user: $user
current-context: kronjob-test
EOF
}
for u in kube-controller-manager kube-scheduler kwok; do write_kubeconfig "$STATE/$u.kubeconfig" "$u"; done

# launch NAME ARGS...: record the command line (with HOME, which kwok's
# differs in) in cmd/NAME so that hack/cluster-restart.sh starts NAME again
# the same way, with the same ports, then start it (start_component).
launch() {
  local name=$1; shift
  printf '%s\0' env "HOME=$HOME" "$BIN/$name" "$@" >"$CMDS/$name"
  start_component "$name"
}

launch etcd --name=kronjob --data-dir="$STATE/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="kronjob=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new \
  --unsafe-no-fsync --quota-backend-bytes=$((2 * 1024 * 1024 * 1024)) --log-level=warn
alive() { component_pid "$1" >/dev/null || fail "$1 exited during start"; }
etcd_ready() { alive etcd; etcd_ok; }
wait_until "etcd healthy (http://127.0.0.1:$ETCD_PORT)" etcd_ready

# PodSecurity: namespaces without pod-security.kubernetes.io labels get the
# baseline level (the plugin's own default is privileged, which checks
# nothing).
cat > "$STATE/admission.yaml" <<'YAML'
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: PodSecurity
    configuration:
      apiVersion: pod-security.admission.config.k8s.io/v1
      kind: PodSecurityConfiguration
      defaults:
        enforce: baseline
        enforce-version: latest
        audit: baseline
        audit-version: latest
        warn: baseline
        warn-version: latest
      exemptions: {}
YAML
printf '%s\n' "$ADMISSION_PLUGINS" > "$STATE/admission-plugins"
launch kube-apiserver \
  --enable-admission-plugins="$ADMISSION_PLUGINS" \
  --admission-control-config-file="$STATE/admission.yaml" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 \
  --endpoint-reconciler-type=none \
  --profiling="$([[ "${KRONJOB_APISERVER_PROFILING:-0}" == 1 ]] && echo true || echo false)"
api_ready() { alive kube-apiserver; [[ "$(admin_curl /readyz 2>/dev/null)" == ok ]]; }
wait_until "kube-apiserver ready (https://127.0.0.1:$API_PORT)" api_ready
# Every requested plugin must be among those the API server says it loaded
# (a misspelt or dropped one would silently leave the cluster soft).
loaded=$(grep -oE 'admission controller\(s\) successfully in the following order: [^"]*' "$LOGS/kube-apiserver.log" |
  sed 's/.*order: //' | tr ',.' '\n\n' | sort -u)
for p in ${ADMISSION_PLUGINS//,/ }; do
  grep -qxF "$p" <<<"$loaded" || fail "kube-apiserver did not load the admission plugin $p"
done
log "admission plugins loaded: $ADMISSION_PLUGINS (and the defaults)"
write_kubeconfig "$KUBECONFIG_OUT" admin

printf '%s\n' "$KCM_CONTROLLERS" > "$STATE/kcm-controllers"
launch kube-controller-manager \
  --kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
  --controllers="$KCM_CONTROLLERS" \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --leader-elect=false --profiling=false
launch kube-scheduler \
  --kubeconfig="$STATE/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" \
  --leader-elect=false --profiling=false
# HOME is private so that no ~/.kwok/kwok.yaml of the user is picked up.
HOME="$STATE/kwok-home" launch kwok \
  --kubeconfig="$STATE/kwok.kubeconfig" \
  --config="$HACK_DIR/kwok/stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-ip=127.0.0.1 --cidr=10.244.0.0/16 --node-lease-duration-seconds=40

{
  for i in $(seq 1 "$NODES"); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
spec: {}
EOF
  done
} | kubectl_ apply -f - >"$LOGS/nodes.log" 2>&1 || fail "could not create the fake nodes: $(cat "$LOGS/nodes.log")"

all_alive_nodes_ready() { local c; for c in "${COMPONENTS[@]}"; do alive "$c"; done; nodes_ready; }
wait_until "$NODES kwok nodes Ready and untainted" all_alive_nodes_ready

log "cluster ready in $((SECONDS - start)) s; logs in $LOGS"
log "try: $BIN/kubectl --kubeconfig $KUBECONFIG_OUT get nodes"
echo "$KUBECONFIG_OUT"
