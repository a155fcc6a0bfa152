# Quick start: `make run` (or `make run Q="your question"`) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
Q ?= Hva sa Lavrov om angrepet i Syria?
K ?= 5

.PHONY: setup chromium run test test-fast test-avx2 lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	@# Bytecode now, as pip does for a regular install: an editable one leaves it to the first import, which
	@# never writes it where PYTHONDONTWRITEBYTECODE is set (then every CLI call compiles ~60 modules: 0.1 s).
	$(BIN)/python -m compileall -q semsearch
	touch $(STAMP)

setup: $(STAMP)

# The search page's browser tests drive Debian's chromium. Install it where apt works as root; never fail
# the build over it (the browser tests then skip, saying why).
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
		echo "note: chromium is not installed and could not be; the browser tests will skip"

run: setup
	$(BIN)/semsearch index corpus --index index
	$(BIN)/semsearch query "$(Q)" -k $(K) --index index

test: setup chromium
	$(BIN)/python -m pytest -q -rs

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# The fast tier again as an AVX2-only CPU would run it (no AVX-512, VNNI or bf16: most laptops, many VMs; the
# paths ARM takes too): backend choice follows $$SEMSEARCH_CPU, so every path is tested on any machine.
test-avx2: setup
	SEMSEARCH_CPU=avx2 $(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check semsearch tests bench

clean:
	rm -rf index/meta index/segments index/deletes index/.lock index/server.json index/CURRENT index/snapshots
