# SalesTalk data pipelines. `make demo` and `make test` set up .venv themselves. `make help` lists every target.
SHELL := /bin/bash
PYTHON_BOOTSTRAP ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)
export GX_ANALYTICS_ENABLED := false

.PHONY: help setup demo airflow stop airflow-status env airflow-cli alerts freshness cost status quarantine redrive \
	dead-letters dead-letter-redrive tenants tenant-onboard tenant-pause tenant-resume tenant-offboard \
	validate-config config-schema lint format browser test test-fast benchmarks lock clean

# $(call need,VAR,usage line[,sources|tenants|intervals]): when VAR is empty, a one-line usage error naming
# the valid values (of SOURCE when it is set), exit 2.
need = $(if $(strip $($(1))),,@$(PY) -m salestalk usage --values $(or $(3),none) $(if $(SOURCE),--source "$(SOURCE)") $(if $(TENANT),--tenant "$(TENANT)") -- "$(2)")

help: ## list every target
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-z][a-zA-Z_-]*:.*## / {printf "make %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on our CI machines) nothing else writes .pyc files,
# and every Airflow process would compile its imports from source again (import airflow.sdk: 2.6 s, not 1.3 s).
$(STAMP): requirements.txt requirements-dev.txt requirements-dev.lock docker/requirements-airflow.txt
	@test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements-dev.lock
	@touch $(STAMP)

setup: $(STAMP) ## create .venv from requirements-dev.lock (the other targets do it when needed)
	@$(PY) -m compileall -q -j 0 plugins dags dev

demo: setup ## run every demo source end to end on the embedded defaults and print what happened
	$(PY) -m dev.demo

# Local Airflow in the background: api-server, scheduler, dag-processor and triggerer, SQLite, LocalExecutor,
# moto and the fake source API, under .local/airflow (or $SALESTALK_LOCAL_HOME). State (pids, URL, login) in
# state.json, the CLI's environment in client.env there.
airflow: setup ## [PORT=8080] [PARALLELISM=4]: start a local Airflow on 127.0.0.1 in the background
	$(PY) -m dev.airflow_stack start $(if $(PORT),--port $(PORT)) $(if $(PARALLELISM),--parallelism $(PARALLELISM))

stop: ## stop what make airflow started
	$(PY) -m dev.airflow_stack stop

airflow-status: ## print the local Airflow's state (URL, pids, logs)
	$(PY) -m dev.airflow_stack status

env: setup ## the local Airflow's environment as export lines: eval "$(make -s env)"
	@$(PY) -m salestalk env

airflow-cli: setup ## ARGS="<airflow arguments>": the airflow CLI against the local Airflow
	$(call need,ARGS,make airflow-cli ARGS='<airflow arguments>')
	$(PY) -m salestalk airflow -- $(ARGS)

alerts: setup ## [SOURCE=] [TENANT=]: the local alert log, newest last
	$(PY) -m salestalk alerts $(if $(SOURCE),--source "$(SOURCE)") $(if $(TENANT),--tenant "$(TENANT)")

freshness: setup ## [SOURCE=]: freshness diagnosis per source and tenant
	$(PY) -m salestalk freshness $(if $(SOURCE),--source "$(SOURCE)")

cost: setup ## [MONTH=YYYY-MM]: warehouse spend, projection and budget, top sources and tenants by spend
	$(PY) -m salestalk cost $(if $(MONTH),--month "$(MONTH)")

status: setup ## SOURCE= [INTERVAL=] [TENANT=]: counts of one interval (default the newest) and its curated rows
	$(call need,SOURCE,make status SOURCE=<source> [INTERVAL=<start>] [TENANT=<tenant>],sources)
	$(PY) -m salestalk status --source "$(SOURCE)" $(if $(INTERVAL),--interval "$(INTERVAL)") $(if $(TENANT),--tenant "$(TENANT)")

quarantine: setup ## SOURCE= [TENANT=] [INTERVAL=]: quarantined rows per tenant, interval and rule
	$(call need,SOURCE,make quarantine SOURCE=<source> [TENANT=<tenant>] [INTERVAL=<start>],sources)
	$(PY) -m salestalk quarantine list --source "$(SOURCE)" $(if $(TENANT),--tenant "$(TENANT)") $(if $(INTERVAL),--interval "$(INTERVAL)")

redrive: setup ## SOURCE= TENANT= INTERVAL=: re-validate and publish one quarantined batch
	$(call need,SOURCE,make redrive SOURCE=<source> TENANT=<tenant> INTERVAL=<start>,sources)
	$(call need,TENANT,make redrive SOURCE=<source> TENANT=<tenant> INTERVAL=<start>,tenants)
	$(call need,INTERVAL,make redrive SOURCE=<source> TENANT=<tenant> INTERVAL=<start>,intervals)
	$(PY) -m salestalk quarantine redrive --source "$(SOURCE)" --tenant "$(TENANT)" --interval "$(INTERVAL)"

tenants: setup ## [SOURCE=]: the tenant registry, each tenant's status and sources
	$(PY) -m salestalk tenants list $(if $(SOURCE),--source "$(SOURCE)")

tenant-onboard: setup ## TENANT= SOURCES="a b": add a tenant as active to the registry (its next run includes it)
	$(call need,TENANT,make tenant-onboard TENANT=<tenant> SOURCES='<source> ...')
	$(call need,SOURCES,make tenant-onboard TENANT=<tenant> SOURCES='<source> ...',sources)
	$(PY) -m salestalk tenants onboard --tenant "$(TENANT)" $(foreach s,$(SOURCES),--source "$(s)")

tenant-pause: setup ## TENANT=: stop new runs for a tenant (data stays); make tenant-resume TENANT= undoes it
	$(call need,TENANT,make tenant-pause TENANT=<tenant>)
	$(PY) -m salestalk tenants pause --tenant "$(TENANT)"

tenant-resume: setup ## TENANT=: make a paused or offboarded tenant active again
	$(call need,TENANT,make tenant-resume TENANT=<tenant>)
	$(PY) -m salestalk tenants resume --tenant "$(TENANT)"

tenant-offboard: setup ## TENANT=: stop new runs for a tenant for good; never deletes its data
	$(call need,TENANT,make tenant-offboard TENANT=<tenant>)
	$(PY) -m salestalk tenants offboard --tenant "$(TENANT)"

dead-letters: setup ## TENANT=: the DynamoDB dead letters of a tenant
	$(call need,TENANT,make dead-letters TENANT=<tenant>,tenants)
	$(PY) -m salestalk dead-letter list --tenant "$(TENANT)"

dead-letter-redrive: setup ## TENANT=: replay a tenant's DynamoDB dead letters
	$(call need,TENANT,make dead-letter-redrive TENANT=<tenant>,tenants)
	$(PY) -m salestalk dead-letter redrive --tenant "$(TENANT)"

validate-config: setup ## check every file in include/sources/
	$(PY) -m salestalk validate-config

config-schema: setup ## write include/sources/source.schema.json (editor validation) from the config models
	$(PY) -m salestalk config-schema

lint: setup ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## ruff format and ruff check --fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The browser test drives Debian's Chromium through playwright (no browser download).
browser: ## install Debian's chromium (/usr/bin/chromium) for the browser test when it is missing
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else \
	  echo "make browser: /usr/bin/chromium is missing; install it as root: apt-get install -y chromium" >&2; \
	  [ "$$CI" != true ]; exit; fi; \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	  || { echo "make browser: could not install chromium (apt-get install -y chromium)" >&2; [ "$$CI" != true ]; }

test: lint validate-config browser ## lint, config check, Chromium, then the whole test suite
	$(VENV)/bin/pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=25

test-fast: setup ## the tests without the e2e, services and long ones
	$(VENV)/bin/pytest -m "not e2e and not services and not long"

benchmarks: setup ## parse-time and throughput benchmarks (slow)
	$(PY) benchmarks/parse_time.py
	$(PY) benchmarks/throughput.py

# Airflow's own constraints for the version we run, committed under docker/ (make constraints fetches it).
.PHONY: constraints compose-env
AIRFLOW_VERSION := 3.3.2
CONSTRAINTS := docker/constraints-$(AIRFLOW_VERSION)-python-3.11.txt

lock: setup ## recompile requirements.lock against Airflow's constraints, requirements-dev.lock against that lock
	@test -f $(CONSTRAINTS) || { echo "make lock: $(CONSTRAINTS) is missing; run make constraints first" >&2; exit 2; }
	$(VENV)/bin/uv pip compile docker/requirements-airflow.txt -c $(CONSTRAINTS) -o requirements.lock --python-version 3.11 -q
	$(VENV)/bin/uv pip compile requirements-dev.txt -c requirements.lock -o requirements-dev.lock --python-version 3.11 -q

constraints: ## download Airflow's constraints for AIRFLOW_VERSION on Python 3.11 into docker/ (commit it)
	curl -fsSL -o $(CONSTRAINTS).part \
	  https://raw.githubusercontent.com/apache/airflow/constraints-$(AIRFLOW_VERSION)/constraints-3.11.txt
	mv $(CONSTRAINTS).part $(CONSTRAINTS)

compose-env: ## [FORCE=1]: write .env for docker compose from .env.example, with new random secrets
	python3 docker/compose_env.py generate $(if $(FORCE),--force)

clean: ## delete .local, the GX Data Docs and the caches
	rm -rf .local great_expectations/uncommitted .pytest_cache .ruff_cache .hypothesis
