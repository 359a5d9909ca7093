# radkit: `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.radkit-installed
CACHE := $(CURDIR)/.cache

# Offline and tidy (ENV.md): no hub calls, no telemetry, caches inside the checkout.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export MPLCONFIGDIR := $(CACHE)/matplotlib
export HF_HOME := $(CACHE)/huggingface
export TORCH_HOME := $(CACHE)/torch
export TORCH_EXTENSIONS_DIR := $(CACHE)/torch_extensions
export TRITON_CACHE_DIR := $(CACHE)/triton
export TOKENIZERS_PARALLELISM := false

DEMO_OUT ?= runs/demo
PYTEST_ARGS ?=

.PHONY: install test demo bench docs clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Reinstall only when the dependency files change (stamp file).
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -c constraints.txt -e ".[cpu,dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	mkdir -p $(CACHE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	mkdir -p $(CACHE)
	$(BIN)/radkit demo --out $(DEMO_OUT)

bench: $(STAMP)
	mkdir -p $(CACHE)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(CACHE) runs

docs: $(STAMP)
	$(BIN)/python -m radkit.cli_docs docs/cli.md
