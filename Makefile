# SalesTalk data pipelines. `make demo` and `make test` set up .venv themselves.
SHELL := /bin/bash
PYTHON_BOOTSTRAP ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)
export GX_ANALYTICS_ENABLED := false

.PHONY: help setup demo test test-fast lint format validate-config status lock clean benchmarks airflow stop airflow-status alerts freshness quarantine redrive dead-letters dead-letter-redrive

help:
	@echo "make demo             run every demo source end to end on the embedded defaults"
	@echo "make airflow          start a local Airflow (UI on 127.0.0.1) on the embedded defaults; make stop stops it"
	@echo "make test             lint, config check and the whole test suite"
	@echo "make validate-config  check every file in include/sources/"
	@echo "make status SOURCE=deals INTERVAL=2026-11-01T00:00:00Z   counts of one interval"
	@echo "make benchmarks       parse-time and throughput benchmarks (slow)"

$(STAMP): requirements.txt requirements-dev.txt requirements-dev.lock
	@test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements-dev.lock
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) -m dev.demo

# Local Airflow in the background: api-server, scheduler, dag-processor and triggerer, SQLite, LocalExecutor,
# moto and the fake source API. State (pids, URL, login) in .local/airflow/state.json. PORT=8080 by default.
airflow: setup
	$(PY) -m dev.airflow_stack start $(if $(PORT),--port $(PORT))

stop:
	$(PY) -m dev.airflow_stack stop

airflow-status:
	$(PY) -m dev.airflow_stack status

alerts: setup
	$(PY) -m salestalk alerts

freshness: setup
	$(PY) -m salestalk freshness

quarantine: setup
	$(PY) -m salestalk quarantine list --source "$(SOURCE)" $(if $(TENANT),--tenant "$(TENANT)") $(if $(INTERVAL),--interval "$(INTERVAL)")

redrive: setup
	$(PY) -m salestalk quarantine redrive --source "$(SOURCE)" --tenant "$(TENANT)" --interval "$(INTERVAL)"

dead-letters: setup
	$(PY) -m salestalk dead-letter list --tenant "$(TENANT)"

dead-letter-redrive: setup
	$(PY) -m salestalk dead-letter redrive --tenant "$(TENANT)"

validate-config: setup
	$(PY) -m salestalk validate-config

status: setup
	$(PY) -m salestalk status --source "$(SOURCE)" --interval "$(INTERVAL)"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint validate-config
	$(VENV)/bin/pytest -n 2 --dist loadfile

test-fast: setup
	$(VENV)/bin/pytest -m "not e2e and not services"

benchmarks: setup
	$(PY) benchmarks/parse_time.py
	$(PY) benchmarks/throughput.py

lock: setup
	$(VENV)/bin/uv pip compile requirements.txt -o requirements.lock --python-version 3.11 -q
	$(VENV)/bin/uv pip compile requirements-dev.txt -o requirements-dev.lock --python-version 3.11 -q

clean:
	rm -rf .local great_expectations/uncommitted .pytest_cache .ruff_cache .hypothesis
