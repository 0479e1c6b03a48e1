# authlayer: the two commands that matter are `make demo` and `make test`.
GO ?= go
MODULES := test demo demo/browser

# golangci-lint, pinned; `make lint` installs it on first use under
# $(GOPATH)/tools/golangci-lint/<version>.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT_DIR := $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/tools/golangci-lint/$(GOLANGCI_LINT_VERSION)
GOLANGCI_LINT := $(GOLANGCI_LINT_DIR)/golangci-lint
# Nested modules `make lint` holds to the same configuration (the plugin's
# depguard rule, standard library only, applies to the root's files and
# internal/'s only).
LINT_MODULES := test demo demo/browser

.PHONY: test check unit yaegi_test contract e2e demo-test browser-test demo demo-cluster bench fuzz lint tidy

## test: everything CI runs: format and vet, compiled tests under -race,
## the same tests interpreted by Yaegi v0.16.1, the Traefik-loader suites,
## the demo's tests and the browser test. "The plugin's packages" are the
## root package and those under it (internal/...): `go list ./...` at the
## root, which leaves out the nested modules (test, demo, demo/browser).
test: check unit yaegi_test contract demo-test browser-test

check:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

## unit: the plugin's packages' own tests, compiled, under -race.
unit:
	$(GO) test -race -count=1 ./...

## yaegi_test: the same tests run by the `yaegi test` CLI (v0.16.1), one
## package at a time; fails if any package fails.
yaegi_test:
	./scripts/yaegi-test.sh

## contract: behaviour, configuration-shape, reload and catalog tests, each
## run against the compiled plugin and the plugin loaded as Traefik does
## (packages that run a real Traefik, test/traefikrun and its importers,
## are left to `make e2e` and the benchmarks). The benchmark harness's own
## tests run here too (the floor plugin's checks under Yaegi, the peers'
## layout, the baseline's tables), without the benchmark itself.
CONTRACT_PKGS = $$($(GO) list -f '{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}' ./... | grep -v /test/traefikrun | cut -d' ' -f1)
contract:
	cd test && $(GO) test -race -count=1 $(CONTRACT_PKGS)
	cd test && $(GO) test -race -count=1 -skip '^TestBenchTraefik$$' ./benchtraefik/

## e2e: the contract's behaviours through a real Traefik binary
## (test/e2e, harness test/traefikrun): TRAEFIK_BIN, else traefik on
## PATH, else the binary ../shared/tools/build-traefik left in its cache.
## Without one the tests skip with a message; AUTHLAYER_REQUIRE_TRAEFIK=1
## makes that a failure, and then, with no TRAEFIK_BIN given, the binary is
## obtained from ../shared/tools/build-traefik when it exists (a first
## build takes about 15 minutes).
BUILD_TRAEFIK := $(abspath $(CURDIR)/../shared/tools/build-traefik)
e2e:
	@bin="$(TRAEFIK_BIN)"; \
	if [ -z "$$bin" ] && [ "$(AUTHLAYER_REQUIRE_TRAEFIK)" = 1 ] && [ -f "$(BUILD_TRAEFIK)" ] && [ -x "$(BUILD_TRAEFIK)" ]; then \
		echo "e2e: obtaining Traefik with $(BUILD_TRAEFIK)"; \
		bin=$$("$(BUILD_TRAEFIK)") || exit 1; \
	fi; \
	case "$$bin" in ""|/*) ;; *) bin="$(CURDIR)/$$bin" ;; esac; \
	cd test && TRAEFIK_BIN="$$bin" $(GO) test -count=1 -v -timeout 30m ./traefikrun/ ./e2e/

demo-test:
	cd demo && $(GO) test -count=1 ./...

## browser-test: headless Chromium walks through the demo (demo/browser) and
## prints where its screenshots are; skips without /usr/bin/chromium unless
## AUTHLAYER_REQUIRE_BROWSER=1 (as in CI, which installs it).
browser-test:
	cd demo/browser && $(GO) test -count=1 -v ./...

## demo: the demo stack on http://localhost:8080 (Traefik if on PATH, else
## the Yaegi dev host); `make demo PORT=8081` puts it on another port, and
## `make demo BACKEND=django` runs it against a real Django REST framework +
## simplejwt backend (test/djangoapp, Debian's python3-django* packages)
## with backend.preset django-simplejwt (both from the command line only: a
## PORT or BACKEND in the environment is someone else's).
demo:
	cd demo && $(GO) run ./cmd/demo$(if $(filter command line,$(origin PORT)), -port $(PORT))$(if $(filter command line,$(origin BACKEND)), -backend $(BACKEND))

## demo-cluster: the demo in cluster mode on http://localhost:8080: a
## redis-server on loopback (ACL user confined to authlayer:*), two
## authlayer replicas sharing it (Traefik: TRAEFIK_BIN, PATH or the
## build-traefik cache; else two Yaegi dev hosts) and a round-robin front
## saying which replica answered (X-Demo-Replica); PORT= as for `make demo`.
demo-cluster:
	cd demo && $(GO) run ./cmd/demo -cluster$(if $(filter command line,$(origin PORT)), -port $(PORT))

## bench: the middleware against a baseline in the same run, compiled and
## interpreted.
bench:
	$(GO) test -run '^$$' -bench . -benchmem .
	cd test && $(GO) test -run '^$$' -bench . -benchmem ./bench/...

## bench-traefik: authlayer inside a real Traefik (the binary e2e uses)
## against no middleware, an empty interpreted plugin and forwardAuth:
## interleaved rounds, medians, the tables of BENCHMARKS.md (about 4
## minutes; BENCH_* knobs in BENCHMARKS.md, e.g. BENCH_SOAK=5m for the RSS
## soak, BENCH_BASELINE=<other copy> to compare two versions in one run).
## bench-quick: the same comparison in one process (the Yaegi loader behind
## a real http.Server), three interleaved runs in about a minute.
.PHONY: bench-traefik bench-quick
bench-traefik:
	cd test && AUTHLAYER_BENCH_TRAEFIK=1 AUTHLAYER_REQUIRE_TRAEFIK=1 $(GO) test -count=1 -run '^TestBenchTraefik$$' -v -timeout 60m ./benchtraefik/

bench-quick:
	cd test && $(GO) test -run '^$$' -bench '^BenchmarkServer$$' -benchtime 2s ./bench/

## fuzz: each fuzz target of the plugin's packages for FUZZTIME (the seeds
## also run in `make test`).
FUZZTIME ?= 15s
fuzz:
	@for d in $$($(GO) list -f '{{.Dir}}' ./...); do \
		for f in $$(cat $$d/*_test.go 2>/dev/null | grep -o '^func Fuzz[A-Za-z0-9_]*' | cut -d' ' -f2); do \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$d || exit 1; done; done

## lint: golangci-lint (pinned, .golangci.yml) on the plugin's packages and
## on the nested modules in LINT_MODULES; `go mod tidy` must change no
## module. The Yaegi rules the linters cannot check are in CONTRIBUTING.md.
lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...
	@for m in $(LINT_MODULES); do echo "golangci-lint in $$m"; (cd $$m && $(GOLANGCI_LINT) run ./...) || exit 1; done
	@for m in . $(MODULES); do (cd $$m && $(GO) mod tidy -diff) || { echo "go mod tidy would change $$m (run make tidy)"; exit 1; }; done

$(GOLANGCI_LINT):
	GOBIN=$(GOLANGCI_LINT_DIR) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

tidy:
	$(GO) mod tidy
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy) || exit 1; done
