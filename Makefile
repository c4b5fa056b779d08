# The whole set-up on a fresh machine is `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
HOST ?= 127.0.0.1
export SMSCAST_DATABASE_URL ?= sqlite:///data/smscast.db
SMSC_DIR := tests/fixtures/smsc

.PHONY: install run test lint typecheck pytest pytest-postgres bench clean

install: $(VENV)/.installed $(SMSC_DIR)/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(SMSC_DIR)/node_modules/.installed: $(SMSC_DIR)/package-lock.json
	cd $(SMSC_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(VENV)/.installed
	mkdir -p data
	$(BIN)/smscast migrate
	$(BIN)/smscast serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed
	$(BIN)/mypy

pytest: install
	SMSCAST_TEST_DATABASE=sqlite $(BIN)/pytest

pytest-postgres: install
	SMSCAST_TEST_DATABASE=postgresql $(BIN)/pytest -m db

test: lint typecheck pytest pytest-postgres

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(SMSC_DIR)/node_modules .mypy_cache .pytest_cache .ruff_cache
