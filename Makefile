# Two commands on a fresh machine: `make run` and `make test`. Nothing else is installed by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECK_DB := $(CURDIR)/var/check.db

.PHONY: run test check openapi bench fuzz lint typecheck migrations-check openapi-check clients clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	export DVC_ENV=$${DVC_ENV:-dev}; \
	export PROMETHEUS_MULTIPROC_DIR=$${PROMETHEUS_MULTIPROC_DIR:-$${DVC_VAR_DIR:-var}/metrics}; \
	mkdir -p "$$PROMETHEUS_MULTIPROC_DIR" && find "$$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete && \
	$(BIN)/dvc migrate && \
	$(BIN)/dvc seed && \
	exec $(BIN)/uvicorn app.main:create_app --factory --host $${DVC_HOST:-127.0.0.1} --port $${DVC_PORT:-8000} \
		--workers $${DVC_WORKERS:-1} --no-access-log --no-proxy-headers --timeout-graceful-shutdown 20

test: $(VENV)/.installed-dev
	$(BIN)/pytest

fuzz: $(VENV)/.installed-dev
	SCHEMATHESIS_MAX_EXAMPLES=200 $(BIN)/pytest tests/contract

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check app tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

migrations-check: $(VENV)/.installed-dev
	mkdir -p var && rm -f $(CHECK_DB)
	DVC_DATABASE_URL=sqlite+aiosqlite:///$(CHECK_DB) $(BIN)/alembic upgrade head
	DVC_DATABASE_URL=sqlite+aiosqlite:///$(CHECK_DB) $(BIN)/alembic check
	rm -f $(CHECK_DB)

openapi: $(VENV)/.installed
	DVC_ENV=test $(BIN)/dvc openapi --output openapi/openapi.json

openapi-check: $(VENV)/.installed
	DVC_ENV=test $(BIN)/dvc openapi | diff -u openapi/openapi.json - > /dev/null || \
		{ echo "openapi/openapi.json is stale: run make openapi"; exit 1; }

clients: $(VENV)/.installed-dev
	bash .ci/clients

check: lint typecheck migrations-check openapi-check

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var dvc.db dvc.db-wal dvc.db-shm
