# Sluice: `make help` lists the targets.
GO ?= go
# Committed files allowed to exceed 1 MiB (space-separated paths), for make lint.
LINT_LARGE_ALLOW ?=
export CGO_ENABLED ?= 0

.PHONY: help run build test skipped unit e2e e2e-deps bench bench-console fuzz lint lint-files mutants rules

help: ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-10s %s\n", $$1, $$2}'

run: ## run Sluice with the built-in demo model on 127.0.0.1:8080
	$(GO) run ./cmd/sluice serve

build: ## build bin/sluice (static, CGO_ENABLED=0)
	$(GO) build -trimpath -o bin/sluice ./cmd/sluice

test: unit e2e ## run the whole test suite (what CI runs)
	@$(MAKE) --no-print-directory skipped

skipped: ## print one line naming the suites that skip in this environment
	@s=; \
	[ -n "$$SLUICE_TEST_POSTGRES_DSN" ] || s="$$s, PostgreSQL suites (SLUICE_TEST_POSTGRES_DSN unset)"; \
	[ -n "$$SLUICE_TEST_REDIS_ADDR" ] || s="$$s, Redis suites (SLUICE_TEST_REDIS_ADDR unset)"; \
	if ! command -v node >/dev/null; then s="$$s, TestAISDK (no node)"; \
	elif [ ! -d e2e/node/node_modules/@ai-sdk/openai ]; then s="$$s, TestAISDK (no AI SDK in e2e/node: make e2e-deps)"; fi; \
	command -v chromium >/dev/null || [ -n "$$SLUICE_CHROMIUM" ] || s="$$s, the console's browser suite (no chromium)"; \
	if [ -n "$$s" ]; then printf '\n*** SKIPPED: %s. scripts/test-services.sh or .ci/run runs them. ***\n' "$${s#, }"; \
	else echo "Nothing skipped: the PostgreSQL, Redis and AI SDK suites ran."; fi

unit: ## unit tests with the race detector, fuzz seeds included; the authorization matrix without it
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run '^TestAuthorizationMatrix$$' ./internal/admin/

e2e-deps: ## install the npm SDKs of the end-to-end tests and TestAISDK (into e2e/node)
	npm ci --prefix e2e/node --no-audit --no-fund

e2e: ## end-to-end tests: the built binary driven by the official SDKs
	cd e2e && $(GO) test -count=1 -timeout 15m ./...

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$t || exit 1; done; done

lint: lint-files ## gofmt, go vet, and no committed binaries or large files
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

lint-files: ## fail on a committed compiled binary, or a file over 1 MiB not in LINT_LARGE_ALLOW
	@git ls-files | LC_ALL=C awk -v allow='$(LINT_LARGE_ALLOW)' 'BEGIN{n=split(allow,a," "); for(i=1;i<=n;i++) ok[a[i]]=1} !ok[$$0]' | \
	while IFS= read -r f; do \
	  [ -f "$$f" ] && [ ! -L "$$f" ] || continue; \
	  case "$$(head -c4 "$$f" | od -An -tx1 | tr -d ' \n')" in \
	    7f454c46|cffaedfe|cefaedfe|feedface|feedfacf|cafebabe|4d5a*) echo "$$f: a compiled binary is committed (git rm --cached it)";; esac; \
	  [ "$$(wc -c <"$$f")" -le 1048576 ] || echo "$$f: over 1 MiB; commit it only by adding it to LINT_LARGE_ALLOW in the Makefile"; \
	done | awk '{print} END{exit NR>0}'

bench: ## direct vs bare ReverseProxy vs Sluice on loopback, one table (~4 min; BENCH_FLAGS='-reps 1' to tune)
	$(GO) run ./bench/cmd/bench $(BENCH_FLAGS)

bench-console: ## console/portal render p50/p95 over 1 M keys, 10 M ledger rows (generated once into /tmp/sluice-consolebench, ~15 min; CONSOLEBENCH_FLAGS)
	$(GO) run ./bench/consolebench $(CONSOLEBENCH_FLAGS)

mutants: ## mutation score of the critical packages and their surviving mutants (<30 min; MUTANTS_FLAGS, MUTANTS_PKGS; docs/testing.md)
	$(GO) run ./scripts/mutants $(or $(MUTANTS_FLAGS),-p 2 -max 60 -budget 26m) $(MUTANTS_PKGS)

rules: ## promtool check and test of deploy/monitoring's alert rules (installs Debian's prometheus if missing), dashboard and rule metric names
	@command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] || { echo "promtool missing: apt-get install prometheus (as root)"; exit 1; }; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) >&2; }
	promtool check rules deploy/monitoring/prometheus/sluice-rules.yaml
	cd deploy/monitoring/prometheus && promtool test rules sluice-rules.test.yaml
	$(GO) test -count=1 -run 'TestDashboardNamesExportedMetrics|TestAlertRulesNameExportedMetrics' ./internal/app/

# Packaging (docs/deploy.md). VERSION, COMMIT and BUILD_DATE are stamped into
# the binary with -ldflags -X and printed by `sluice version`.
.PHONY: image release chart
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
IMAGE ?= sluice:$(VERSION)
DIST ?= dist
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
APP_PKG := github.com/sluicehq/sluice/internal/app
RELEASE_LDFLAGS = -s -w -X $(APP_PKG).Version=$(VERSION) -X $(APP_PKG).Commit=$(COMMIT) -X $(APP_PKG).Date=$(BUILD_DATE)

image: ## build the container image $(IMAGE) with docker (Dockerfile)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(BUILD_DATE) -t $(IMAGE) .

release: ## static binaries for linux and darwin, amd64 and arm64, in dist/ with SHA256SUMS
	@mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; out=$(DIST)/sluice-$(VERSION)-$$os-$$arch; \
	  echo "$$p -> $$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(RELEASE_LDFLAGS)' -o $$out ./cmd/sluice; done
	@cd $(DIST) && if command -v sha256sum >/dev/null; then sha256sum sluice-$(VERSION)-*; else shasum -a 256 sluice-$(VERSION)-*; fi > SHA256SUMS

chart: ## lint, render and validate the Helm chart; test the Dockerfile's build and make release (deploy/helm/test)
	cd deploy/helm/test && $(GO) test -count=1 -timeout 15m ./...
