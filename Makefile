# authlayer: the two commands that matter are `make demo` and `make test`.
GO ?= go
MODULES := test demo

.PHONY: test check unit yaegi_test contract demo-test demo bench fuzz lint tidy

## test: everything CI runs: format and vet, compiled tests under -race,
## the same tests interpreted by Yaegi v0.16.1, the Traefik-loader suites.
test: check unit yaegi_test contract demo-test

check:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet .
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

unit:
	$(GO) test -race -count=1 .

## yaegi_test: the package's own tests run by the `yaegi test` CLI (v0.16.1).
yaegi_test:
	./scripts/yaegi-test.sh

## contract: behaviour, configuration-shape, reload and catalog tests, each
## run against the compiled plugin and the plugin loaded as Traefik does.
contract:
	cd test && $(GO) test -race -count=1 ./...

demo-test:
	cd demo && $(GO) test -count=1 ./...

## demo: the demo stack on http://localhost:8080 (Traefik if on PATH, else
## the Yaegi dev host).
demo:
	cd demo && $(GO) run ./cmd/demo

## bench: the middleware against a baseline in the same run, compiled and
## interpreted.
bench:
	$(GO) test -run '^$$' -bench . -benchmem .
	cd test && $(GO) test -run '^$$' -bench . -benchmem ./bench/...

## fuzz: each fuzz target for FUZZTIME (the seeds also run in `make test`).
FUZZTIME ?= 15s
fuzz:
	@for f in $$(grep -ho '^func Fuzz[A-Za-z]*' *_test.go | cut -d' ' -f2); do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) . || exit 1; done

tidy:
	$(GO) mod tidy
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy) || exit 1; done
