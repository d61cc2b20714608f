# calico-l3: see README.md. `make test` runs every test; `make demo` starts a cluster on this machine.
GO       ?= go
GOBIN    := $(shell $(GO) env GOPATH)/bin
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -X github.com/calico-l3/calico/calicoctl.Version=$(VERSION) -X github.com/calico-l3/calico/calicoctl.GitCommit=$(COMMIT) \
            -X github.com/calico-l3/calico/calicoctl.BuildDate=$(DATE) -X github.com/calico-l3/calico/node.Version=$(VERSION)
export PATH := $(PATH):$(GOBIN):/usr/sbin:/sbin

.PHONY: all build deps kube test unit bench lint demo demo-clean image clean

all: build

build:
	@mkdir -p bin
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

deps:
	@tests/install-deps.sh

# kube-apiserver and kubectl for the Kubernetes tests (internal/kubetest), built from source once into
# ~/.cache/calico-l3/kube-<version> (the version is the one tests/kubebuild/go.mod pins); later runs return at once.
kube:
	@tests/kubebuild/build.sh >/dev/null

# Every test: unit tests, tests against private etcd servers, and (as root) tests in network namespaces.
test: deps build kube
	$(GO) test -count=1 -timeout 30m ./...

# Fast tests of pure logic only (no etcd, no root).
unit:
	$(GO) test -count=1 -short ./...

# Benchmarks, each beside its baseline measured in the same run; prints a table of figures and of ratios, and
# writes bin/bench.json.
# System benchmarks time whole operations and repeat them internally; pure ones need many iterations. felix's scale
# benchmarks run again on the legacy iptables tables, at 1,000 endpoints (each change there rewrites a whole table).
BENCH_SYSTEM := ./felix ./felix/dataplane ./confd/calico ./cni ./datastore/kdd ./tests/e2e ./tests/clustersim
BENCH_PURE   := ./api ./selector ./confd ./felix/calc ./ipam

bench: deps build kube
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 180m $(BENCH_SYSTEM) | tee bin/bench.txt
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 1 -timeout 60m $(BENCH_PURE) | tee -a bin/bench.txt
	FELIX_BENCH_BACKEND=legacy FELIX_BENCH_ENDPOINTS=1000 $(GO) test -run '^$$' -bench 'ColdStartWithPolicies|EndpointChurn|PolicyAddAtScale' \
		-benchtime 1x -count 1 -timeout 60m ./felix | tee -a bin/bench.txt
	$(GO) run ./tests/benchreport -json bin/bench.json bin/bench.txt

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	staticcheck ./...

# A whole cluster on this machine (as root): etcd, 3 hosts each running calico-node under runit, pods, a
# walkthrough; it stays running until demo-clean.
demo: deps build
	$(GO) run ./tests/demo up

demo-clean:
	$(GO) run ./tests/demo clean

# The calico/node image, built from a local debootstrap base (no registry); builds static binaries first.
image:
	@GO='$(GO)' LDFLAGS='$(LDFLAGS)' image/build.sh

# Leaves the Kubernetes binaries `make kube` built (about 15 minutes on 2 cores) in ~/.cache/calico-l3; remove that
# directory to rebuild them.
clean:
	rm -rf bin
