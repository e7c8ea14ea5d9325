GO ?= go
BINARIES := runtime shim supervisord engined ctl
PROTOS := $(sort $(shell find proto -name "*.proto"))

.PHONY: all build deps proto proto-check test test-unit test-integration test-e2e fuzz fuzz-short demo bench clean $(BINARIES)

all: build

build: $(BINARIES)

$(BINARIES):
	CGO_ENABLED=1 $(GO) build -trimpath -o bin/$@ ./cmd/$@

deps:
	./scripts/deps.sh

# Regenerates the Go code for the APIs; the generated files are committed.
proto:
	protoc -I proto \
		--plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
		--plugin=protoc-gen-go-grpc="$$($(GO) tool -n protoc-gen-go-grpc)" \
		--go_out=paths=source_relative:proto \
		--go-grpc_out=paths=source_relative:proto \
		$(PROTOS)

# Fails when the committed generated code is not what `make proto` makes.
proto-check: proto
	git diff --exit-code -- proto

test: deps proto-check test-unit fuzz-short test-integration test-e2e

test-unit:
	$(GO) test -count=1 ./pkg/... ./cmd/... ./test/image/...

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
# run in test-unit. fuzz-short is CI's few seconds each.
FUZZ_TARGETS := ./pkg/archive:FuzzApply ./pkg/images:FuzzImportArchive ./pkg/images:FuzzNormalize \
	./pkg/runtime/seccomp:FuzzCompile ./pkg/runtime/container:FuzzLoadSpec
FUZZTIME ?= 2m
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; done

fuzz-short:
	$(MAKE) fuzz FUZZTIME=3s

demo: deps build
	./scripts/demo.sh

bench: build
	./scripts/bench.sh

clean:
	rm -rf bin
