# Sluice: `make help` lists the targets.
GO ?= go
export CGO_ENABLED ?= 0

.PHONY: help run build test unit e2e e2e-deps bench fuzz lint

help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-10s %s\n", $$1, $$2}'

run: ## run Sluice with the built-in demo model on 127.0.0.1:8080
	$(GO) run ./cmd/sluice serve

build: ## build bin/sluice (static, CGO_ENABLED=0)
	$(GO) build -trimpath -o bin/sluice ./cmd/sluice

test: unit e2e ## run the whole test suite (what CI runs)

unit: ## unit tests with the race detector, fuzz seeds included
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

e2e-deps: ## install the npm SDK used by the end-to-end tests
	npm ci --prefix e2e/node --no-audit --no-fund

e2e: ## end-to-end tests: the built binary driven by the official SDKs
	cd e2e && $(GO) test -count=1 -timeout 15m ./...

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$t || exit 1; done; done

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

bench: ## direct vs bare ReverseProxy vs Sluice on loopback, one table (~4 min; BENCH_FLAGS='-reps 1' to tune)
	$(GO) run ./bench/cmd/bench $(BENCH_FLAGS)
