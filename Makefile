# Slipway — make help lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
CACHE     ?= $(CURDIR)/.cache
TOOLS     := $(CACHE)/tools
GOLANGCI_LINT_VERSION := v2.7.0
GOLANGCI_LINT := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)
export PATH := /usr/local/go/bin:$(PATH)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build bin/slipway.
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/slipway ./cmd/slipway

##@ Test

.PHONY: test
test: lint unit integration ## Everything CI runs: lint, unit tests, integration tests on real PostgreSQL.

.PHONY: unit
unit: ## Unit tests with the race detector.
	$(GO) test -race -count=1 ./...

.PHONY: integration
integration: ## Store tests on a real PostgreSQL started by hack/postgres.sh (installs it if missing).
	@eval "$$(hack/postgres.sh up)" && $(GO) test -count=1 -run 'Postgres|Store' ./pkg/store/...

.PHONY: integration-build
integration-build: ## Build+push+provenance tests on a real buildkitd and loopback registry (e2e/stack; left running).
	@eval "$$(e2e/stack/registry.sh up)" && eval "$$(e2e/stack/buildkit.sh up)" && \
		$(GO) test -tags integration -count=1 ./pkg/build/... ./pkg/provenance/... $(TESTFLAGS)

.PHONY: build-stack-down
build-stack-down: ## Stop the buildkitd and registry started by integration-build.
	e2e/stack/buildkit.sh down
	e2e/stack/registry.sh down

.PHONY: fuzz
fuzz: ## Fuzz both webhook parsers for 30s each.
	$(GO) test -run '^$$' -fuzz FuzzParseGitHub -fuzztime 30s -fuzzminimizetime 2s ./pkg/scm/github/
	$(GO) test -run '^$$' -fuzz FuzzParseGitLab -fuzztime 30s -fuzzminimizetime 2s ./pkg/scm/gitlab/

.PHONY: update-golden
update-golden: ## Rewrite golden files (generated Dockerfiles, PipelineRuns) from the current code.
	$(GO) test ./pkg/dockerfile/ ./pkg/tekton/ -run Golden -update

##@ Quality

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go vet and golangci-lint.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS)/golangci-lint $@

.PHONY: clean
clean: ## Remove build outputs (not the cache).
	rm -rf $(BIN)

##@ Local stack

.PHONY: dev-up
dev-up: ## Start the local stack (Kubernetes + Tekton, registry, buildkitd, images); built once, cached in .cache/.
	e2e/stack/up.sh

.PHONY: dev-down
dev-down: ## Stop the local stack and clean what it added to the host (caches stay).
	e2e/stack/down.sh

.PHONY: e2e
e2e: ## End-to-end tests on the local stack (starts it if needed).
	$(GO) test -tags e2e -count=1 -timeout 60m ./e2e/...
