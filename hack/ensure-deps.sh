#!/usr/bin/env bash
# Make sure the system tools the test control plane needs are installed:
# openssl, curl, flock/setsid (util-linux) and git via apt-get when missing;
# Go 1.26+ and Rust must already be there (Debian's packages are too old).
set -euo pipefail

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl ca-certificates)
command -v flock >/dev/null && command -v setsid >/dev/null || missing+=(util-linux)
command -v git >/dev/null || missing+=(git)
# promtool and a real Prometheus for the metrics test (tests/operations.rs).
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
if ((${#missing[@]})); then
  echo "[deps] installing with apt-get: ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The prometheus package starts a system service where it can; tests run their own.
  pkill -x prometheus 2>/dev/null || true
fi

command -v cargo >/dev/null || { echo "[deps] Rust (cargo) is required: https://rustup.rs" >&2; exit 1; }
if ! command -v go >/dev/null; then
  echo "[deps] Go 1.26 or newer is required to build the control plane (hack/build-k8s.sh)" >&2
  exit 1
fi
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if [[ "$go_minor" =~ ^[0-9]+$ ]] && ((go_minor < 26)); then
  echo "[deps] Go $(go env GOVERSION) is too old: Kubernetes v1.36 needs Go 1.26 or newer" >&2
  exit 1
fi
