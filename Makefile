# Nexus. `make run` starts the server on the embedded default; `make test`
# runs the tests. Both need only Go; tools are built from pinned modules.

GO      ?= go
BIN     := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)
# The Go toolchain is the one go.mod's toolchain line names (the release with
# the standard library's security fixes, make vulncheck): the go command
# fetches it through the module proxy once. This kind of machine's Go
# defaults to GOTOOLCHAIN=local, which would ignore that line.
export GOTOOLCHAIN ?= auto

.PHONY: all build run test test-race checkfork test-short test-repeat cover fuzz vulncheck lint generate checkgenerate bench bench-pg bench-scale soak tools clean

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN)/nexus ./cmd/nexus

## run: start Nexus on the embedded default (data in ./nexus-data, port 8080)
run: build
	$(BIN)/nexus serve

## test: the whole suite and, beside it, the race detector over the tests
## that drive Nexus's own concurrency (RACE_RUN in RACE_PKGS: the decision
## cache, write grouping, admission, the watch, content GC, sharing's
## concurrent revokes, coalescing; the cache's differential test on one
## seed). gotestsum prints a line per package and ends each run with what
## ran, what was skipped and why: a PostgreSQL, PgBouncer or browser test that could not run says so
## there (under CI=true it fails instead). About 2.5 minutes warm on 2 cores.
## make test-race runs the whole suite under -race (~10 minutes); CI runs both.
RACE_PKGS = ./authz/ ./internal/coalesce/ ./fileplane/content/ ./fileplane/files/ ./fileplane/sharing/
RACE_RUN  = Cache|Overload|Identical|Admitted|Evictions|Concurren|Group|Outbox|Stall|CallerGone|Isolation|Overlapping|GC|Coalesce|Bounded
# Test packages at once: the suite waits on PostgreSQL, subprocesses and
# timers much of the time, so more than one per core keeps the cores busy.
TEST_P    ?= 4
GOTESTSUM = $(BIN)/gotestsum --format pkgname-and-test-fails --format-hide-empty-pkg
test: $(BIN)/gotestsum
	@log=$$(mktemp); NEXUS_CACHE_SEED=1 $(GOTESTSUM) -- -race -count=1 -timeout 20m -run '$(RACE_RUN)' $(RACE_PKGS) >$$log 2>&1 & race=$$!; \
	echo "== the whole suite"; $(GOTESTSUM) -- -p $(TEST_P) -count=1 -timeout 20m ./...; rc=$$?; \
	wait $$race; rrc=$$?; echo "== the race detector over Nexus's own concurrency (run beside it)"; cat $$log; rm -f $$log; \
	[ $$rc -eq 0 ] && [ $$rrc -eq 0 ]

## test-race: the whole suite with the race detector. authz/memdb (our fork
## of SpiceDB's memdb) runs SpiceDB's datastore conformance suite without it
## (minutes under -race; its locking is upstream's), beside the rest, then
## our own memdb tests (nexus_*_test.go) with it, less the two long
## single-goroutine ones.
MEMDB_RACE_RUN  = ^($(shell grep -ho '^func Test[A-Za-z0-9_]*' authz/memdb/nexus_*_test.go | cut -c6- | paste -sd'|' -))$$
MEMDB_RACE_SKIP = ^(TestNexusIndexMatchesUpstream|TestHistoryIsBoundedByChangedRelationships)$$
test-race: $(BIN)/gotestsum
	@log=$$(mktemp); $(GO) test -count=1 -timeout 20m ./authz/memdb/... >$$log 2>&1 & memdb=$$!; \
	$(GOTESTSUM) -- -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v /authz/memdb); rc=$$?; \
	wait $$memdb; mrc=$$?; cat $$log; rm -f $$log; \
	echo "== the race detector over our memdb code"; \
	$(GOTESTSUM) -- -race -count=1 -timeout 10m -run '$(MEMDB_RACE_RUN)' -skip '$(MEMDB_RACE_SKIP)' ./authz/memdb/; orc=$$?; \
	[ $$rc -eq 0 ] && [ $$mrc -eq 0 ] && [ $$orc -eq 0 ]

## checkfork: authz/memdb is still SpiceDB (go.mod's version) + the import
## rewrite + authz/memdb/fork.patch (every change marked "nexus:") + our
## nexus_*.go files; tools/checkfork.sh says what it checks, and
## tools/syncfork.sh re-syncs the fork after a SpiceDB upgrade. CI runs it.
checkfork:
	bash tools/checkfork.sh

## test-short: the fast tests only
test-short:
	$(GO) test -short -count=1 ./...

## test-repeat: the tests that start servers, clusters or watches, N times
## each (go test $(REPEAT_FLAGS) -count=N -run PATTERN per package: authz's
## cache and PostgreSQL engine, server's SpiceDB API, PostgreSQL and
## restart tests, cmd/nexus's two-node, primary-down and crash tests; the
## patterns are in tools/test-repeat.sh), then the whole suite (make test)
## WHOLE times with BURN_PROCS busy loops beside it (tools/cpuburn.sh,
## bounded by BURN_SECONDS and always killed). Prints runs and failures;
## fails if any run failed. N=0 skips the repeats, WHOLE=0 the suite runs.
## One repeat, with -race on a shared 2-core machine: authz ~160 s,
## server ~150 s, cmd/nexus ~50 s; one make test under the burner
## ~18 min. So the defaults (N=20, WHOLE=3) take about 3 hours: run them
## on a machine of their own, or N=5 WHOLE=1 for a quick look.
N            ?= 20
WHOLE        ?= 3
BURN_PROCS   ?= 1
BURN_SECONDS ?= 3600
REPEAT_FLAGS ?= -race
# The recipe names REPEAT_MAKE, not MAKE: make -n runs a line that names MAKE.
REPEAT_MAKE  := $(MAKE)
test-repeat:
	@GO=$(GO) MAKE="$(REPEAT_MAKE)" N=$(N) WHOLE=$(WHOLE) BURN_PROCS=$(BURN_PROCS) BURN_SECONDS=$(BURN_SECONDS) \
		REPEAT_FLAGS="$(REPEAT_FLAGS)" sh tools/test-repeat.sh

## cover: per-package statement coverage of the whole suite (without the race
## detector), over the module's packages minus authz/memdb (upstream's code,
## whose own tests cover only itself and are not run here), bench and api
## (generated). Prints each package, then the service layer against its 90%
## target; the profile is left in bin/cover.out (go tool cover -html=...).
## About 6 minutes on an idle machine.
COVER_OUT ?= $(BIN)/cover.out
COVER_PKGS = $$($(GO) list ./... | grep -v -e /authz/memdb -e /bench -e /api/)
cover:
	@mkdir -p $(dir $(COVER_OUT)); pkgs=$(COVER_PKGS); \
	$(GO) test -count=1 -timeout 20m -coverpkg=$$(echo $$pkgs | tr ' ' ,) -coverprofile=$(COVER_OUT) $$pkgs; rc=$$?; \
	echo; $(GO) tool cover -func=$(COVER_OUT) | tail -1; echo; \
	awk -v module=$$($(GO) list -m) -f tools/coverpkg.awk $(COVER_OUT); exit $$rc

## fuzz: every native fuzz target (func FuzzXxx in a _test.go file) for
## FUZZTIME each, one after another (go test -fuzz=^Name$ -fuzztime; the
## targets are listed by tools/fuzz.sh; FUZZ_TARGETS, a regexp on
## "./pkg Name", narrows them). make test already runs each over its seed
## corpus and the inputs kept in testdata/fuzz/. A failure leaves its input
## in pkg/testdata/fuzz/Name/: fix the bug and commit the input with it.
## 10 targets: about 8 minutes at the default 30s with a warm build cache;
## the first run also builds the instrumented test binaries (authz's, with
## SpiceDB, about 5 minutes here).
FUZZTIME     ?= 30s
FUZZ_TARGETS ?= .
fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZ_TARGETS="$(FUZZ_TARGETS)" sh tools/fuzz.sh

## vulncheck: govulncheck (pinned in tools/go.mod) over every package;
## fails on a vulnerability the code reaches in a module (go.mod can
## upgrade it), prints the standard library's loudly (VULNCHECK_STDLIB=fatal
## fails on those too). The database is vuln.go.dev when it answers, else a
## snapshot through the Go module proxy (golang.org/x/vulndb@VULNDB_VERSION,
## default latest), or VULNDB=URL. See tools/vulncheck.sh. About 5 minutes.
vulncheck: $(BIN)/govulncheck
	@GO=$(GO) BIN=$(BIN) sh tools/vulncheck.sh

## lint: gofmt and go vet
lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Code generators, built from versions pinned in go.mod (protoc plugins, so the
# generated code matches the protobuf runtime) and tools/go.mod (buf,
# govulncheck for make vulncheck, gotestsum for make test).
tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-connect-go

$(BIN)/buf: tools/go.mod
	cd tools && $(GO) build -o $(BIN)/buf github.com/bufbuild/buf/cmd/buf

$(BIN)/gotestsum: tools/go.mod
	cd tools && $(GO) build -o $(BIN)/gotestsum gotest.tools/gotestsum

$(BIN)/govulncheck: tools/go.mod
	cd tools && $(GO) build -o $(BIN)/govulncheck golang.org/x/vuln/cmd/govulncheck

$(BIN)/protoc-gen-go $(BIN)/protoc-gen-connect-go: go.mod
	$(GO) build -o $(BIN)/ google.golang.org/protobuf/cmd/protoc-gen-go connectrpc.com/connect/cmd/protoc-gen-connect-go

## generate: regenerate the Go and Connect code from api/**/*.proto
generate: tools
	buf lint
	buf generate

## checkgenerate: fail if the checked-in generated code is stale
checkgenerate: generate
	@git diff --exit-code -- api || (echo "generated code is stale: run make generate and commit"; exit 1)
	@test -z "$$(git status --porcelain -- api)" || (git status --porcelain -- api; echo "untracked generated files: run make generate and commit"; exit 1)

## bench: load benchmarks; prints tables and writes bench/results/latest.json
bench: $(BIN)/spicedb
	$(GO) run ./bench -out bench/results/latest.json

## bench-scale: the embedded default at 10k and 1M relationships beside a
## standalone SpiceDB server (scenario embedded_scale: import, resident
## memory, restart, check p99 growth) into bench/results/latest-scale.json;
## about 22 minutes (10 s phases; SpiceDB at a million answers a few checks
## a second). BENCH_SCALE_SIZES=10000,100000 picks other sizes.
bench-scale: $(BIN)/spicedb
	$(GO) run ./bench -scenarios embedded_scale -out bench/results/latest-scale.json -duration 10s

## bin/spicedb: the standalone SpiceDB server the API benchmarks compare
## against (DESIGN.md), at the version go.mod pins; a cold build takes a few
## minutes.
SPICEDB_VERSION = $(shell $(GO) list -m -f '{{.Version}}' github.com/authzed/spicedb)
$(BIN)/spicedb: go.mod
	GOBIN=$(BIN) $(GO) install github.com/authzed/spicedb/cmd/spicedb@$(SPICEDB_VERSION)

## bench-pg: production-mode benchmarks on PostgreSQL (scenarios pg_matrix
## and pg_api_check_vs_spicedb_server), into bench/results/latest-pg.json; about 4 minutes with the default 5 s
## phases and a warm build cache, 2-3 more for a cold build (BENCH_DURATION=3s
## for shorter phases). Without NEXUS_BENCH_POSTGRES it
## starts a primary, a streaming replica and PgBouncer with deploy/local-pg.sh
## on free ports and stops them afterwards; with it, it uses that server (and
## NEXUS_BENCH_POSTGRES_REPLICA, NEXUS_BENCH_PGBOUNCER if set). See bench/README.md.
BENCH_DURATION ?= 5s
bench-pg: $(BIN)/spicedb
	GO=$(GO) bench/pg-run.sh bench/results/latest-pg.json $(BENCH_DURATION)

## soak: the soak and crash harness (bench/soak, bench/README.md): mixed
## load (file writes, grants and revokes, checks) against a real `nexus
## serve` for SOAK_SECONDS in each of SOAK_MODES, with kill -9 and clean
## stops of the node at random moments; on PostgreSQL (its own primary and synchronous
## replica, on free ports) also kill -9 of the primary, and once a failover
## to the replica. Then every acknowledged write must be there and every
## decision of a sample equal a fresh process's; prints the counts, fails
## on a lost write or a divergence. Not part of make test (TestLedger, the
## harness's own logic, is). About SOAK_SECONDS + 20 s a mode.
SOAK_SECONDS ?= 120
SOAK_MODES   ?= embedded,postgres
soak: build
	NEXUS_SOAK_BIN=$(BIN)/nexus SOAK_SECONDS=$(SOAK_SECONDS) SOAK_MODES=$(SOAK_MODES) \
		$(GO) test -count=1 -timeout $$(( $(SOAK_SECONDS) * 3 + 600 ))s -run '^TestSoak$$' -v ./bench/soak

clean:
	rm -rf $(BIN)
