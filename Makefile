# Each target bootstraps .venv from pyproject.toml, so a fresh clone needs nothing else.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/emptychair demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench scripts
	$(BIN)/mypy bot

# BENCH_FLAGS=--quick: smaller sizes for the load and latency benchmarks.
BENCH_FLAGS ?=

bench: $(STAMP)
	$(BIN)/python bench/retrieval_quality.py
	$(BIN)/python bench/retrieval_latency.py $(BENCH_FLAGS)
	$(BIN)/python bench/ingest.py $(BENCH_FLAGS)
	$(BIN)/python bench/ack_latency.py $(BENCH_FLAGS)
	$(BIN)/python bench/overhead.py $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) build *.egg-info
