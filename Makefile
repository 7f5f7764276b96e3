# The two commands: `make demo` runs the main job, `make test` runs every check.
# Each creates .venv and installs the project into it when missing or out of date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/btm demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

clean:
	rm -rf .btm .pytest_cache .mypy_cache .ruff_cache

# Not part of `make test`: prints times and memory against plain pandas in the same run.
bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_cycle --rows $(or $(ROWS),1000000)
	$(BIN)/python -m tests.benchmarks.bench_validation --rows $(or $(ROWS),1000000)
	$(BIN)/python -m tests.benchmarks.bench_fetch --issues $(or $(ISSUES),100000)
	$(BIN)/python -m tests.benchmarks.bench_cli
