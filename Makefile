# GridDesk — see README.md. Every target bootstraps .venv first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint ui docs dashboard bench bench-forecast bench-bidding lock venv clean stop

venv: $(STAMP)
$(STAMP): requirements.txt include/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q -p $(BIN)/python -r requirements.txt -e include
	@touch $(STAMP)

lock:
	$(BIN)/uv pip compile requirements.in --python-version 3.11 --no-header --no-annotate -q -o requirements.txt
	@sed -i '1i # Exact pins, compiled from requirements.in by `make lock` (uv pip compile --python-version 3.11).' requirements.txt

run: venv
	$(BIN)/python -m griddesk.cli run

# The linters first (under a minute), then every test: CI (.ci/run) runs exactly `make test`.
test: venv lint
	$(BIN)/python -m pytest

# ruff (rules and complexity/argument thresholds in ruff.toml), ruff format, the import-layering contract
# (.importlinter) and sqlfluff on the dbt models and singular tests.
lint: venv
	$(BIN)/ruff check include dags plugins tests
	$(BIN)/ruff format --check include dags plugins tests
	$(BIN)/lint-imports
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests

ui: venv
	$(BIN)/python -m griddesk.cli ui

# `make ui` on the CeleryExecutor: its own Redis on 127.0.0.1:GRIDDESK_REDIS_PORT and the Celery workers of
# GRIDDESK_CELERY_WORKERS (default worker-a: default+models, worker-b: default), until Ctrl-C.
.PHONY: cluster
cluster: venv
	$(BIN)/python -m griddesk.cli cluster $(if $(REPLAY),--replay)

# GX Data Docs beside dbt docs on http://127.0.0.1:8081/ (/gx/, /dbt/); linked from alerts and the Airflow UI.
docs: venv
	$(BIN)/python -m griddesk.quality.docs_site $(if $(PORT),--port $(PORT))

# The Grafana dashboards' queries as griddesk_bi, rendered into one offline HTML page (.griddesk/dashboard/).
dashboard: venv
	$(BIN)/python -m griddesk.dashboards.local $(if $(DAYS),--days $(DAYS))

stop: venv
	$(BIN)/python -m griddesk.cli stop

# Stop the services first: removing .griddesk under a running server would orphan it.
clean:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m griddesk.cli stop; fi
	rm -rf .griddesk reports dbt_project/target dbt_project/logs

.PHONY: bench-ingest
bench-ingest: venv
	$(BIN)/python -m griddesk.reporting.ingest_benchmark

bench-forecast: venv
	$(BIN)/python -m griddesk.reporting.forecast_benchmark $(if $(MARKETS),--markets $(MARKETS)) $(if $(DAYS),--days $(DAYS)) $(if $(CHALLENGERS),--challengers $(CHALLENGERS))

bench-bidding: venv
	$(BIN)/python -m griddesk.reporting.bidding_benchmark $(if $(MARKETS),--markets $(MARKETS)) $(if $(DAYS),--days $(DAYS)) $(if $(BATTERY),--battery $(BATTERY)) $(if $(FORECAST),--forecast $(FORECAST))

# Forecasts judged by money: every stored model and the champion by MAE and by money, fixed and exclusive_blocks.
.PHONY: bench-champion-money
bench-champion-money: venv
	$(BIN)/python -m griddesk.reporting.champion_money $(if $(MARKETS),--markets $(MARKETS)) $(if $(DAYS),--days $(DAYS)) $(if $(BATTERY),--battery $(BATTERY))

.PHONY: bench-consumption
bench-consumption: venv
	$(BIN)/python -m griddesk.reporting.consumption_benchmark $(if $(METERS),--meters $(METERS)) $(if $(DAYS),--days $(DAYS)) $(if $(ORACLE),--oracle-weather)

# The morning path (5 markets) and the consumption path (20 meters) on the CeleryExecutor with 1 and 2 workers.
.PHONY: bench-scale
bench-scale: venv
	$(BIN)/python -m griddesk.reporting.scale_benchmark $(if $(MARKETS),--markets $(MARKETS)) $(if $(METERS),--meters $(METERS)) $(if $(WORKERS),--workers $(WORKERS))
