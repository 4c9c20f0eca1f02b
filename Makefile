# One task runner for the habits. `make demo` and `make test` work on a fresh clone.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-all lint format docs bench

# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,serving]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/distill demo

test: setup
	$(PY) -m pytest

test-all: setup
	$(PY) -m pytest -m ""

lint: setup
	$(VENV)/bin/ruff check synth finetune evals tests benchmarks
	$(VENV)/bin/ruff format --check synth finetune evals tests benchmarks
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix synth finetune evals tests benchmarks
	$(VENV)/bin/ruff format synth finetune evals tests benchmarks

# the config reference is generated from the config models (tests check it is current)
docs: setup
	$(PY) -m synth.cli.config_reference > docs/config-reference.md

bench: setup
	$(PY) benchmarks/harvest_at_limit.py
	$(PY) benchmarks/harvest_overhead.py
	$(PY) benchmarks/memory_at_scale.py
	$(PY) benchmarks/train_throughput.py
