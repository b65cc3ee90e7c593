# notebridge: `make run` serves the examples, `make test` runs every test.
SHELL := bash
.DEFAULT_GOAL := help

GO      ?= go
PYTHON  ?= python3
BIN     := bin/notebridge
VENV    := python-worker/.venv
VENV_OK := $(VENV)/.installed

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: build
build: ## build the gateway binary into bin/
	$(GO) build -o $(BIN) ./gateway/cmd/notebridge

# The venv is rebuilt when the package's metadata changes.
$(VENV_OK): python-worker/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e 'python-worker[test]'
	touch $@

.PHONY: venv
venv: $(VENV_OK) ## create python-worker/.venv with the worker SDK and its test extras

.PHONY: run
run: build venv ## start the gateway (embedded NATS) and the example workers on 127.0.0.1:8080
	@scripts/run.sh

.PHONY: test
test: lint test-go test-python ## run every test: lint, Go, Python and end-to-end

.PHONY: test-go
test-go: ## Go tests (real in-process NATS, race detector on)
	$(GO) test -race -count=1 ./...

.PHONY: test-python
test-python: build venv ## Python SDK and end-to-end tests (real NATS and gateway binaries)
	cd python-worker && NOTEBRIDGE_BIN=$(CURDIR)/$(BIN) .venv/bin/pytest -q

.PHONY: lint
lint: venv ## go vet, gofmt and ruff
	$(GO) vet ./...
	@out=$$(gofmt -l gateway); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd python-worker && .venv/bin/ruff check . && .venv/bin/ruff format --check .

.PHONY: fmt
fmt: venv ## format Go and Python code
	gofmt -w gateway
	cd python-worker && .venv/bin/ruff format . && .venv/bin/ruff check --fix .

.PHONY: clean
clean: ## remove build outputs, the venv and local NATS data
	rm -rf bin $(VENV) .notebridge
