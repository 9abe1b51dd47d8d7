# RapidTrader: `make help` lists the targets. Everything runs inside .venv (made by `make setup`).
# Without RT_DB_URL the project starts its own embedded Postgres (data in .rt/pgdata).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export RUNTIME__DLTHUB_TELEMETRY := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.DEFAULT_GOAL := help
.PHONY: help setup demo eod test test-dq-full test-e2e lint format bench docs backtest report health validate backup restore db-start db-stop psql clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP) ## create .venv and install the pinned dependencies

demo: setup ## load the bundled S&P 500 sample through dlt, dbt build, report (embedded Postgres)
	$(PY) -m rapidtrader.jobs.eod --demo

eod: setup ## the nightly job: ingest (RT_DATA_SOURCE) -> dbt build -> report
	$(PY) -m rapidtrader.jobs.eod

test: setup ## the whole test suite (throwaway databases on the embedded Postgres, or RT_TEST_DB_URL)
	$(PY) -m pytest

test-dq-full: setup ## every data-quality and risk test over the whole history (the nightly checks its new batch)
	RT_TEST_FULL_HISTORY=1 $(PY) -m rapidtrader.dbt_runner test

test-e2e: setup ## only the end-to-end tests
	$(PY) -m pytest -m e2e

lint: setup ## ruff (Python) and sqlfluff (dbt templater, postgres dialect)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m rapidtrader.lint_sql lint dbt_project/models

format: setup ## auto-format Python and SQL
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	$(PY) -m rapidtrader.lint_sql fix dbt_project/models

# Options of the nightly benchmark, e.g. make bench NIGHTLY_ARGS="--years 2 --symbols 50 --only eod,noop"
NIGHTLY_ARGS ?=

bench: setup ## benchmarks: ingest, indicators, ledger, the nightly costs at 5/10/20 y + sample, sweeps of 10/100/400 runs (prints figures; not a test)
	$(PY) -m bench.bench_ingest
	$(PY) -m bench.bench_indicators
	$(PY) -m bench.bench_ledger --synthetic-years 10
	$(PY) -m bench.bench_nightly $(NIGHTLY_ARGS)
	$(PY) -m bench.bench_sweep

backtest: setup ## replay the ledger over history: make backtest START=2014-01-02 END=2018-02-07
	@test -n "$(START)" -a -n "$(END)" || (echo "usage: make backtest START=YYYY-MM-DD END=YYYY-MM-DD" && exit 2)
	$(PY) -m rapidtrader.jobs.backtest --start $(START) --end $(END)

sweep: setup ## parameter sweep: make sweep GRID=grid.csv START=2014-01-02 END=2018-02-07 [FOLDS=3]
	@test -n "$(GRID)" -a -n "$(START)" || (echo "usage: make sweep GRID=grid.csv START=YYYY-MM-DD [END=YYYY-MM-DD] [FOLDS=k]" && exit 2)
	$(PY) -m rapidtrader.jobs.sweep --grid $(GRID) --start $(START) $(if $(END),--end $(END)) $(if $(FOLDS),--folds $(FOLDS))

docs: setup ## build the dbt docs site (lineage, models, columns) into target/
	$(PY) -m rapidtrader.dbt_runner docs generate
	@echo "open target/index.html, or: $(PY) -m rapidtrader.dbt_runner docs serve --port 8080"

report: setup ## write the daily report (HTML + Markdown) for the latest session into reports/
	$(PY) -m rapidtrader.jobs.eod_report

health: setup ## the runbook's health check (OK/WARN/CRITICAL per check)
	$(PY) scripts/health_check.py --all

validate: setup ## data-quality checks of the latest session and TA-Lib check of the indicators
	$(PY) scripts/validate_data.py --date yesterday
	$(PY) scripts/validate_indicators.py

backup: setup ## pg_dump of the project database into backups/
	$(PY) scripts/backup.py

restore: setup ## restore the latest backup (see scripts/restore.py --help)
	$(PY) scripts/restore.py --latest

db-start: setup ## start the embedded Postgres (no-op with RT_DB_URL)
	$(PY) -m rapidtrader.db start

db-stop: setup ## stop the embedded Postgres
	$(PY) -m rapidtrader.db stop

psql: setup ## open psql on the project database
	$(PY) -m rapidtrader.db psql

clean: ## remove build output (keeps the database)
	rm -rf target dbt_packages .pytest_cache .ruff_cache
