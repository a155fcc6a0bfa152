# Quick start: `make run` (or `make run Q="your question"`) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
Q ?= Hva sa Lavrov om angrepet i Syria?
K ?= 5

.PHONY: setup run test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/semsearch index corpus --index index
	$(BIN)/semsearch query "$(Q)" -k $(K) --index index

test: setup
	$(BIN)/python -m pytest -q -rs

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check semsearch tests bench

clean:
	rm -rf index/CURRENT index/snapshots index/.lock index/.CURRENT.*
