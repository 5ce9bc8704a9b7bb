# kronjob developer entry points. `make` (or `make help`) lists the targets.
# Each target is a one-liner that calls cargo or a script in hack/, so new
# targets are easy to add: document a target with a trailing `## text`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# KEEP_CLUSTER=1 leaves the control plane running after `make test`.
KEEP_CLUSTER ?= 0
export KEEP_CLUSTER

.PHONY: help
help: ## List the targets
	@echo "Targets:"
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-zA-Z0-9_.-]+:[^#]*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install missing system tools (openssl, curl, util-linux, git) with apt-get
	hack/ensure-deps.sh

.PHONY: k8s
k8s: deps ## Build the pinned control-plane binaries into ~/.cache/kronjob (skipped when present)
	hack/build-k8s.sh

.PHONY: cluster-up
cluster-up: k8s ## Start the local control plane (etcd, apiserver, controller-manager, scheduler, kwok)
	hack/cluster-up.sh

.PHONY: cluster-down
cluster-down: ## Stop the local control planes and remove target/cluster (and the chaos and managed suites' target/cluster-chaos, target/cluster-managed)
	hack/cluster-down.sh
	KRONJOB_CLUSTER_DIR=target/cluster-chaos hack/cluster-down.sh
	KRONJOB_CLUSTER_DIR=target/cluster-managed hack/cluster-down.sh

.PHONY: build
build: ## cargo build
	$(CARGO) build

.PHONY: test
test: ## Everything CI runs: chart checks, unit, differential, integration and e2e tests on the local control plane
	hack/build-tools.sh
	hack/with-cluster.sh hack/test-suite.sh

.PHONY: chaos
chaos: ## Fault-injection suite, full round: >= 50 leader kills, apiserver/etcd restarts, partitions, RBAC revoked (~25 min, own control plane)
	hack/chaos.sh

.PHONY: bench
bench: k8s ## Benchmark kronjob against kube-controller-manager's CronJob controller (~2 h 30 min; BENCH_QUICK=1 for a short run). Not part of `make test`
	hack/bench.sh $(if $(filter 1,$(BENCH_QUICK)),--quick,)

.PHONY: stress
stress: k8s ## A CronJob with 10 000 Jobs and 20 000 active entries (release build; KRONJOB_LARGE_N sets the size): prints the longest runtime stall (docs/reliability.md)
	KRONJOB_LARGE_N=$${KRONJOB_LARGE_N:-10000} hack/with-cluster.sh cargo test --release --locked --features failpoints --test hostile thousands -- --nocapture

FUZZ_SECONDS ?= 300
export FUZZ_SECONDS
.PHONY: fuzz
fuzz: ## Run each fuzz target of fuzz/ for FUZZ_SECONDS (300) seconds; corpus in ~/.cache/kronjob/fuzz (needs nightly). Not part of `make test`
	hack/fuzz.sh

.PHONY: tools
tools: ## Build helm and kubeconform into ~/.cache/kronjob (skipped when present)
	hack/build-tools.sh

.PHONY: lint
lint: tools ## rustfmt, clippy -D warnings, helm lint, kubeconform -strict
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	$(CARGO) clippy --all-targets --locked --features failpoints -- -D warnings
	hack/chart-check.sh

.PHONY: run
run: ## Run the controller in the foreground on $$KUBECONFIG, or on the local control plane with an example CronJob
	hack/run-local.sh

IMAGE ?= kronjob:0.1.0
.PHONY: image
image: ## Build the container image (needs a Docker engine)
	docker build -t $(IMAGE) .

.PHONY: e2e-kind
e2e-kind: ## The e2e suite on a kind cluster with the Helm chart (needs a Docker engine)
	KRONJOB_IMAGE=$(IMAGE) tests/kind/e2e.sh
