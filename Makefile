# Two entry points: `make demo` runs the quickstart on the embedded default (no
# PostHog key, no network); `make test` runs every check CI runs: ruff (lint and
# format check), mypy --strict, and pytest with a coverage floor (the suite includes
# a smoke run of the bench). `make format` rewrites the code the way `lint` wants it.
#
# `make unit PYTHON=/path/to/python3.X VENV=.venv-3.X` runs the tests on another
# interpreter, in a venv of its own (.ci/run does so for 3.10 and 3.13).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Everything that ships is type-checked (ruff covers the whole tree).
TYPED := src tests bench examples
# Floor for the branch coverage of analyticskit by the suite (code run in fresh
# interpreters is not measured). On 2026-12-04, Python 3.11.7, three runs measured
# 93.97% to 93.98%; in November the figure moved by about 0.7% between runs (a
# delivery worker left running by an earlier test may or may not reach the "sink
# refused" path of _engine/delivery.py before the session ends): the floor is the
# lower figure less that, rounded down. Raise it when coverage rises.
COV_FAIL_UNDER ?= 93

.PHONY: demo test lint format typecheck unit bench clean

demo: $(VENV)/.runtime
	$(BIN)/python examples/quickstart.py

test: $(VENV)/.dev lint typecheck unit

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(VENV)/.dev
	$(BIN)/mypy --strict $(TYPED)

unit: $(VENV)/.dev
	$(BIN)/python -m pytest --cov=analyticskit --cov-report=term-missing:skip-covered \
		--cov-fail-under=$(COV_FAIL_UNDER)

bench: $(VENV)/.dev
	$(BIN)/python bench/bench_handler.py

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -e '.[dev,frameworks,structlog,loguru,browser,logs]'
	touch $@

clean:
	rm -rf $(VENV) .venv-* .mypy_cache .pytest_cache .ruff_cache .coverage .coverage.*
