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
cluster-down: ## Stop the local control plane and remove target/cluster
	hack/cluster-down.sh

.PHONY: build
build: ## cargo build
	$(CARGO) build

.PHONY: test
test: ## Unit + integration tests against the local control plane (KEEP_CLUSTER=1 keeps it up)
	hack/with-cluster.sh $(CARGO) test --all-targets
