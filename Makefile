# simfleet: `make run` runs the main job, `make test` the checks. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck unit bench clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install simfleet with the dev tools

run: $(STAMP) ## 1,000 chargers against the embedded CSMS for about a minute
	$(BIN)/simfleet run scenarios/quickstart.toml --report run-report.json

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check simfleet tests benchmarks
	$(BIN)/ruff format --check simfleet tests benchmarks

typecheck: $(STAMP) ## mypy --strict on the package
	$(BIN)/mypy

unit: $(STAMP) ## the test suite only
	$(BIN)/pytest

test: lint typecheck unit ## lint, type check and the whole test suite

bench: $(STAMP) ## floor vs simfleet (bench-results.json); metrics (bench-scrape.json), --strict (bench-strict.json) costs
	$(BIN)/python -m benchmarks.bench --out bench-results.json
	$(BIN)/python -m benchmarks.scrape --out bench-scrape.json
	$(BIN)/python -m benchmarks.strict --out bench-strict.json

clean: ## remove the virtual environment and generated files
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache run-report.json bench-results.json bench-scrape.json bench-strict.json
