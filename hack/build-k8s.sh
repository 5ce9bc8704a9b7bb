#!/usr/bin/env bash
# Build the pinned binaries of the test control plane from source with Go:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes),
#   etcd (go.etcd.io/etcd/server/v3, at the version Kubernetes resolves) and kwok.
#
# Output: $KRONJOB_CACHE/k8s-$K8S_VERSION/bin (KRONJOB_CACHE defaults to ~/.cache/kronjob).
# Go's module and build caches also live under $KRONJOB_CACHE/go unless
# KRONJOB_GO_CACHE_SHARED=1, which keeps the caller's GOMODCACHE/GOCACHE.
# A stamp file makes a second run a no-op; FORCE=1 rebuilds.
set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION="v1.36.3"
KWOK_VERSION="v0.8.0"
CACHE="${KRONJOB_CACHE:-$HOME/.cache/kronjob}"
OUT="$CACHE/k8s-$K8S_VERSION"
BIN="$OUT/bin"
# The stamp names every input, so changing a pin or go.sum triggers a rebuild.
STAMP_CONTENT="k8s=$K8S_VERSION kwok=$KWOK_VERSION sums=$(cat "$HACK_DIR/k8s/go.sum" "$HACK_DIR/kwok/go.sum" "$HACK_DIR/k8s/go.mod" "$HACK_DIR/kwok/go.mod" | cksum | cut -d' ' -f1)"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

log() { printf '[build-k8s %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

all_present() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || return 1; done
}

if [[ "${FORCE:-0}" != 1 && -f "$OUT/stamp" && "$(cat "$OUT/stamp")" == "$STAMP_CONTENT" ]] && all_present; then
  log "up to date: $BIN"
  exit 0
fi

command -v go >/dev/null || { echo "build-k8s: Go (1.26+) is required; see docs/testing.md" >&2; exit 1; }

if [[ "${KRONJOB_GO_CACHE_SHARED:-0}" != 1 ]]; then
  export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
fi
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local
mkdir -p "$BIN"
rm -f "$OUT/stamp"

start=$SECONDS
log "Go $(go env GOVERSION), GOMODCACHE=$(go env GOMODCACHE), GOCACHE=$(go env GOCACHE)"

# Progress: go build is silent for many minutes, so report the number of
# compiled packages in the build cache every 30 s while it runs.
progress() {
  local what=$1
  while sleep 30; do
    log "  ... $what still building ($((SECONDS - start)) s, $(find "$GOCACHE" -name '*-d' 2>/dev/null | wc -l) cache entries)"
  done
}

run_build() { # what, module dir, go build args...
  local what=$1 dir=$2; shift 2
  progress "$what" &
  local ppid=$! rc=0
  log "downloading modules for $what"
  (cd "$dir" && go mod download) || rc=$?
  if [[ $rc == 0 ]]; then
    log "compiling $what"
    (cd "$dir" && go build "$@") || rc=$?
  fi
  kill "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null || true
  [[ $rc == 0 ]] || { log "FAILED: $what (exit $rc)"; exit "$rc"; }
  log "done: $what ($((SECONDS - start)) s so far)"
}

K8S_PKG=k8s.io/component-base/version
CLIENT_PKG=k8s.io/client-go/pkg/version
BUILD_DATE="2026-01-01T00:00:00Z" # fixed, so the binaries are reproducible
ver_flags=""
for p in $K8S_PKG $CLIENT_PKG; do
  ver_flags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=36"
  ver_flags+=" -X $p.gitTreeState=archive -X $p.buildDate=$BUILD_DATE -X $p.gitCommit=kronjob-build"
done

# One go build for all mains: shared packages compile once.
run_build "kube-apiserver kube-controller-manager kube-scheduler kubectl etcd" "$HACK_DIR/k8s" \
  -trimpath -ldflags "-s -w$ver_flags" -o "$BIN/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  ./etcd

run_build "kwok" "$HACK_DIR/kwok" \
  -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" -o "$BIN/" \
  sigs.k8s.io/kwok/cmd/kwok

all_present || { log "FAILED: some binaries are missing in $BIN"; exit 1; }
printf '%s' "$STAMP_CONTENT" > "$OUT/stamp"
log "built in $((SECONDS - start)) s:"
"$BIN/kube-apiserver" --version | sed 's/^/    /'
"$BIN/etcd" --version | head -1 | sed 's/^/    /'
"$BIN/kwok" --version 2>/dev/null | head -1 | sed 's/^/    /' || true
log "binaries in $BIN"
