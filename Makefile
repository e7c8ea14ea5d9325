GO ?= go
BINARIES := runtime runtime-init shim berthd supervisord engined ctl pause
PROTOS := $(sort $(shell find proto -name "*.proto"))

.PHONY: all build deps proto proto-check test test-unit test-race test-integration test-e2e test-cri critest fuzz fuzz-short soak loadtest demo bench bench-shim bench-start bench-cri clean $(BINARIES)

all: build

build: $(BINARIES)

# One shim runs per container, so its binary is built for memory: no cgo
# (it calls no C; cgo adds libc, a pthread per thread and malloc arenas) and
# stripped. Figures: docs/shim.md, Memory.
CGO_shim := 0
LDFLAGS_shim := -s -w
# ctl runs once per command: without cgo it starts 0.8 ms sooner (no libc
# to load, no cgo runtime set-up; `hyperfine 'bin/ctl version'` 5.8 -> 5.0
# ms). It calls no C; name lookups are Go's own, as in the docker CLI.
CGO_ctl := 0
# The runtime is started 3 times per container (create, start, delete):
# without cgo each start is ~1 ms sooner (no libc to load, no cgo set-up;
# `hyperfine 'bin/runtime --version'` 2.6 -> 1.6 ms). The container side
# (init, exec'd processes, namespace joins) is runtime-init, a small static C
# program that must sit next to bin/runtime (docs/runtime.md, The
# container-side stage); `make runtime` builds both.
CGO_runtime := 0
runtime: runtime-init

# supervisord and engined are one executable, berthd, installed under both
# names as hard links: the kernel then keeps one copy of the code the two
# daemons share (their idle PSS, docs/decisions.md). `go build
# ./cmd/supervisord` still builds either alone.
supervisord engined: berthd
	ln -f bin/berthd bin/$@

$(filter-out pause runtime-init supervisord engined,$(BINARIES)):
	CGO_ENABLED=$(or $(CGO_$@),1) $(GO) build -trimpath -ldflags='$(LDFLAGS_$@)' -o bin/$@ ./cmd/$@

# Static: it runs (from a protected fd) inside the container, where the
# container's libraries are not ours. Truncated error messages are fine.
INIT_CFLAGS := -O2 -Wall -Wextra -Wno-format-truncation
runtime-init:
	@mkdir -p bin
	$(CC) $(INIT_CFLAGS) -static -s -o bin/$@ cmd/$@/$@.c

# The pod sandbox's process is bind-mounted into an empty rootfs: static.
pause:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/$@ ./cmd/$@

deps:
	./scripts/deps.sh

# Regenerates the Go code for the APIs; the generated files are committed.
# supervisord's API is gRPC; the shim's is ttrpc (docs/shim.md: a shim must
# be light, and grpc-go's server is most of a gRPC shim's memory).
SHIM_PROTOS := $(filter proto/berth/shim/%,$(PROTOS))
proto:
	protoc -I proto \
		--plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
		--plugin=protoc-gen-go-grpc="$$($(GO) tool -n protoc-gen-go-grpc)" \
		--go_out=paths=source_relative:proto \
		--go-grpc_out=paths=source_relative:proto \
		$(filter-out $(SHIM_PROTOS),$(PROTOS))
	protoc -I proto \
		--plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
		--plugin=protoc-gen-go-ttrpc="$$($(GO) tool -n protoc-gen-go-ttrpc)" \
		--go_out=paths=source_relative:proto \
		--go-ttrpc_out=paths=source_relative:proto \
		$(SHIM_PROTOS)

# Fails when the committed generated code is not what `make proto` makes.
proto-check: proto
	git diff --exit-code -- proto

test: deps proto-check test-unit test-race fuzz-short test-integration test-e2e test-cri

test-unit:
	$(GO) test -count=1 ./pkg/... ./cmd/... ./test/image/...

# The unit tests of the packages that run goroutines against each other
# (daemons, shim, clients, stores) again under the race detector: 52 s on
# 2 busy cores; the whole of ./pkg/... would be several minutes.
RACE_PKGS := ./pkg/supervisor/... ./pkg/shim/... ./pkg/engine/containers/... ./pkg/engine/api/... \
	./pkg/client/... ./pkg/logfile/... ./pkg/content/... ./pkg/metadata/... ./pkg/failpoint/...
test-race:
	$(GO) test -race -count=1 $(RACE_PKGS)

# Integration tests run on our own runtime and shim; the shim and supervisor
# suites run again on runc, the swap every caller of a runc-compatible
# runtime relies on.
INTEGRATION_ENV := BERTH_BIN_DIR=$(CURDIR)/bin BERTH_TEST_SHIM=$(CURDIR)/bin/shim
test-integration: build
	$(INTEGRATION_ENV) BERTH_TEST_RUNTIME=$(CURDIR)/bin/runtime $(GO) test -count=1 -timeout 15m ./test/integration/...
	$(INTEGRATION_ENV) BERTH_TEST_RUNTIME=$$(command -v runc) $(GO) test -count=1 -timeout 10m -run 'TestShim|TestSupervisor' ./test/integration/...

test-e2e: build
	BERTH_BIN_DIR=$(CURDIR)/bin $(GO) test -count=1 -timeout 20m ./test/e2e/...

# Fuzz targets (go test -fuzz), each for FUZZTIME; their seed corpora also
# run in test-unit. fuzz-short is CI's share: a count of inputs, not a time,
# because Go 1.26's fuzz coordinator can fail a timed run that found nothing
# with "context deadline exceeded" when the deadline meets a busy worker
# (golang/go#75804, fixed in 1.27); a count has no deadline to race.
FUZZ_TARGETS := ./pkg/archive:FuzzApply ./pkg/images:FuzzImportArchive ./pkg/images:FuzzNormalize \
	./pkg/runtime/seccomp:FuzzCompile ./pkg/runtime/container:FuzzLoadSpec \
	./pkg/engine/api:FuzzEngineAPI ./pkg/distribution:FuzzPullResponses
FUZZTIME ?= 2m
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg; done

fuzz-short:
	$(MAKE) fuzz FUZZTIME=3000x

# Long runs of the e2e TestSoak and TestLoad (make test-e2e runs them
# short: 40 cycles, 5 s): SOAK_CYCLES create/start/stop/rm cycles from 4
# clients, then no leftover and the daemons' memory back within 10%;
# 16 clients for LOAD_SECONDS on ps, inspect, run --rm and logs, p99 logged.
SOAK_CYCLES ?= 1000
LOAD_SECONDS ?= 60
soak: build
	BERTH_BIN_DIR=$(CURDIR)/bin BERTH_SOAK_CYCLES=$(SOAK_CYCLES) $(GO) test -count=1 -timeout 60m -v -run '^TestSoak$$' ./test/e2e/

loadtest: build
	BERTH_BIN_DIR=$(CURDIR)/bin BERTH_LOAD_SECONDS=$(LOAD_SECONDS) $(GO) test -count=1 -timeout 30m -v -run '^TestLoad$$' ./test/e2e/

# critest against supervisord's CRI server: CI runs the specs listed in
# scripts/critest-ci.focus (short); `make critest` the whole suite.
test-cri: build
	ONLY=e2e-test-images/busybox ./scripts/critest.sh --ginkgo.focus="$$(paste -sd'|' scripts/critest-ci.focus)"

critest: build
	./scripts/critest.sh

demo: deps build
	./scripts/demo.sh

bench: build
	./scripts/bench.sh

# The shim's memory beside containerd-shim-runc-v2 and conmon, alone.
bench-shim: build
	./scripts/bench-shim.sh

# Issue 14's start-latency lines (run --rm, concurrent run -d, idle PSS)
# beside ctr, podman and the docker CLI, alone.
bench-start: build
	./scripts/bench-start.sh

# critest's benchmarks against the CRI server beside containerd's, alone.
bench-cri: build
	./scripts/bench-cri.sh

clean:
	rm -rf bin
