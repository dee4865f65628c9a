# Accord — the two commands: `make run` and `make test`. `make bench` runs the benchmarks.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint clean

# A virtualenv with the runtime packages; reinstalled when requirements change.
$(VENV)/.runtime: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# The same with the test/dev packages.
$(VENV)/.dev: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	@bash scripts/run.sh

test: $(VENV)/.dev
	@bash scripts/ensure_packages.sh
	@bash scripts/test.sh

bench: $(VENV)/.dev
	@bash scripts/bench.sh

lint: $(VENV)/.dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .venv-interop var .pytest_cache
