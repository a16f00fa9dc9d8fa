# Two commands on a fresh machine: `make run` and `make test`. Each makes or reuses .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: run test lint format typecheck unit bench clean venv dev bytecode

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "MDS needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(VENV)/.installed-run $@

venv: $(VENV)/.installed-run
dev: $(VENV)/.installed-dev

# Bytecode written ahead: with PYTHONDONTWRITEBYTECODE set (as here, and in many container
# images) every `mds` process would otherwise compile the sources again, about 0.1 s a start.
bytecode:
	@$(BIN)/python -m compileall -q src

run: venv bytecode
	$(BIN)/mds serve

test: lint typecheck bytecode
	$(BIN)/pytest -n $(PYTEST_WORKERS)

unit: dev
	$(BIN)/pytest tests/unit

lint: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

typecheck: dev
	$(BIN)/mypy

# Modest sizes so a run takes minutes; each script takes flags for larger runs (see README).
bench: dev
	$(BIN)/python bench/encryption.py
	$(BIN)/python bench/quality.py --persons 2000
	$(BIN)/python bench/quality.py --dataset febrl4 --processes 0 --workers 1
	$(BIN)/python bench/ingest.py --preload 20000 --signals 3000 --posts 1000
	$(BIN)/python bench/recompute.py --preload 20000 --users 5000 --workers 2
	$(BIN)/python bench/api.py --users 20000 --seconds 10
	$(BIN)/python bench/propagation.py --events 20000 --rate 50 --seconds 10

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
