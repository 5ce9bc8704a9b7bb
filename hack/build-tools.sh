#!/usr/bin/env bash
# Build the chart tooling (helm, kubeconform) from their Go modules and cache
# the binaries under ${KRONJOB_CACHE:-~/.cache/kronjob}/tools/<name>-<version>/.
# Already-built tools are skipped, so a warm run costs nothing.
#
# Usage:
#   hack/build-tools.sh            # build what is missing, print the paths
#   eval "$(hack/build-tools.sh --env)"   # also export HELM and KUBECONFORM
#
# Needs only `go` and the Go module proxy; nothing is written to the work tree.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.1}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.8.0}"

CACHE="${KRONJOB_CACHE:-$HOME/.cache/kronjob}"
TOOLS="$CACHE/tools"

emit_env=false
[[ "${1:-}" == "--env" ]] && emit_env=true

log() { echo "build-tools: $*" >&2; }

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }

# Self-contained Go caches, so the build never depends on (or pollutes) the
# caller's GOPATH and a cold build is really cold.
export GOMODCACHE="${GOMODCACHE_OVERRIDE:-$CACHE/go/mod}"
export GOCACHE="${GOCACHE_OVERRIDE:-$CACHE/go/build}"
export GOFLAGS="-buildvcs=false -trimpath"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

# build NAME VERSION PACKAGE LDFLAGS
build() {
  local name=$1 version=$2 pkg=$3 ldflags=$4
  local dir="$TOOLS/$name-$version"
  if [[ -x "$dir/$name" ]]; then
    log "$name $version: cached at $dir/$name"
    return
  fi
  log "$name $version: building $pkg@$version (cold builds take a few minutes) ..."
  local start=$SECONDS tmp
  tmp="$(mktemp -d "$TOOLS/.$name-$version.XXXXXX")"
  if ! GOBIN="$tmp" go install -ldflags "$ldflags" "$pkg@$version"; then
    rm -rf "$tmp"
    log "$name $version: build FAILED"
    return 1
  fi
  # Atomic publish: a half-built directory is never mistaken for a cache hit.
  rm -rf "$dir"
  mv "$tmp" "$dir"
  log "$name $version: built in $((SECONDS - start))s -> $dir/$name"
}

mkdir -p "$TOOLS"

helm_major="${HELM_VERSION%%.*}"   # v4 (or v3, if HELM_VERSION says so)
# Helm derives its default .Capabilities.KubeVersion from the client-go it
# was built with; chart-check passes --kube-version explicitly anyway.
build helm "$HELM_VERSION" "helm.sh/helm/$helm_major/cmd/helm" \
  "-s -w -X helm.sh/helm/$helm_major/internal/version.version=$HELM_VERSION"
build kubeconform "$KUBECONFORM_VERSION" "github.com/yannh/kubeconform/cmd/kubeconform" \
  "-s -w -X main.version=$KUBECONFORM_VERSION"

HELM="$TOOLS/helm-$HELM_VERSION/helm"
KUBECONFORM="$TOOLS/kubeconform-$KUBECONFORM_VERSION/kubeconform"
if $emit_env; then
  printf 'export HELM=%q\nexport KUBECONFORM=%q\n' "$HELM" "$KUBECONFORM"
else
  echo "HELM=$HELM"
  echo "KUBECONFORM=$KUBECONFORM"
fi
