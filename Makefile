# Writ's build. `make help` lists the targets.

SHELL        := bash
.SHELLFLAGS  := -eu -o pipefail -c
GO           ?= go
BIN          := $(CURDIR)/bin
TOOLS        := $(CURDIR)/.bin
CONTROLLER_GEN := $(TOOLS)/controller-gen
HELM         := $(TOOLS)/helm
HELM_VERSION  = $(shell $(GO) -C test/tools/helm list -m -f '{{.Version}}' helm.sh/helm/v3)
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT       ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS      := -X writ.dev/writ/cmd/internal/version.Version=$(VERSION) -X writ.dev/writ/cmd/internal/version.Commit=$(COMMIT)
TEST_FLAGS   ?= -count=1 -timeout 45m
# API packages: every <component>/api/<version> directory.
API_DIRS     := $(sort $(dir $(wildcard */api/*/doc.go)))
CRD_DIR      := charts/writ/files/crds

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/writ, bin/writ-verify (which `writ verify` runs) and bin/writ-controller.
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/writ ./cmd/writ
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/writ-verify ./cmd/writ-verify
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/writ-controller ./cmd/writ-controller

.PHONY: deps
deps: ## Install the Debian packages the tests use (git, gnupg, openssh-client, postgresql, chromium; root or sudo).
	bash test/install-deps.sh

.PHONY: controlplane
controlplane: ## Build kube-apiserver and etcd from source into the cache (once; ~10-15 min cold) and print the directory.
	@$(GO) run ./test/controlplane/build

.PHONY: test
test: controlplane lint verify ## Everything CI runs: lint, verify, unit and integration tests.
	$(GO) test $(TEST_FLAGS) -v ./...

.PHONY: test-unit
test-unit: ## Unit tests only (no control plane).
	$(GO) test $(TEST_FLAGS) -short ./...

.PHONY: test-integration
test-integration: controlplane ## Unit and integration tests against the real control plane.
	$(GO) test $(TEST_FLAGS) -v ./...

$(CONTROLLER_GEN): test/tools/codegen/go.mod test/tools/codegen/go.sum
	$(GO) -C test/tools/codegen build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

$(HELM): test/tools/helm/go.mod test/tools/helm/go.sum
	$(GO) -C test/tools/helm build -ldflags "-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION)" -o $(HELM) helm.sh/helm/v3/cmd/helm

.PHONY: lint-chart
lint-chart: $(HELM) ## helm lint the chart (defaults and the other TLS mode) for the Kubernetes version Writ tests against.
	$(HELM) lint --strict --kube-version 1.37.1 charts/writ
	$(HELM) lint --strict --kube-version 1.37.1 charts/writ --set webhook.tls.mode=self-managed,metrics.serviceMonitor.enabled=true,networkPolicy.enabled=true

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code and CRD manifests (into the chart).
	$(CONTROLLER_GEN) object $(foreach d,$(API_DIRS),paths=./$(d))
	rm -rf $(CRD_DIR) && mkdir -p $(CRD_DIR)
	$(CONTROLLER_GEN) crd:crdVersions=v1 $(foreach d,$(API_DIRS),paths=./$(d)) output:crd:dir=$(CRD_DIR)

.PHONY: verify
verify: ## Fail if generated files or go.mod/go.sum are out of date.
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	  git ls-files -co --exclude-standard $(CRD_DIR) $(API_DIRS) | grep -e '^$(CRD_DIR)' -e 'zz_generated' | \
	    while read -r f; do mkdir -p $$tmp/$$(dirname $$f); cp $$f $$tmp/$$f; done; \
	  $(MAKE) --no-print-directory generate >/dev/null; \
	  diff -ru $$tmp/$(CRD_DIR) $(CRD_DIR) || { echo "generated CRDs are out of date: run make generate and commit"; exit 1; }; \
	  for f in $$(cd $$tmp && find . -name 'zz_generated*' | sed 's#^\./##'); do \
	    diff -u $$tmp/$$f $$f || { echo "$$f is out of date: run make generate and commit"; exit 1; }; done
	@for m in . test/tools/kube-apiserver test/tools/etcd test/tools/codegen test/tools/sealedsecrets test/tools/helm; do \
	  $(GO) -C $$m mod tidy -diff || { echo "$$m/go.mod is not tidy: run go mod tidy there"; exit 1; }; done
	@echo "verify: generated files and go.mod are up to date"

.PHONY: fmt
fmt: ## Format the Go code.
	find . -name '*.go' -not -path './.git/*' -not -path './bin/*' -not -path './.bin/*' -print0 | xargs -0 gofmt -w

.PHONY: vet
vet: ## go vet.
	$(GO) vet ./...

.PHONY: lint
lint: vet lint-chart ## go vet, a gofmt check and helm lint.
	@out=$$(find . -name '*.go' -not -path './.git/*' -not -path './bin/*' -not -path './.bin/*' -print0 | xargs -0 gofmt -l); \
	  if [ -n "$$out" ]; then echo "not gofmt-formatted (run make fmt):"; echo "$$out"; exit 1; fi

.PHONY: bench
bench: controlplane ## Run the benchmarks and print the figures the issues name (about 15 min).
	$(GO) test -run '^$$' -bench . -benchmem -timeout 90m ./...

.PHONY: demo
demo: controlplane build ## Start the local control plane and walk through Writ (about two minutes once it is built).
	$(GO) run ./test/demo --controller $(BIN)/writ-controller --writ $(BIN)/writ

.PHONY: clean
clean: ## Remove build outputs (not the control-plane cache).
	rm -rf $(BIN) $(TOOLS) .demo
