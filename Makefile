# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
# Every target first installs what it needs into .venv/ (uv, from pip, then the locked stack).
# The stack is byte-compiled at install, as pip does and uv does not by default: every process the
# pipeline starts (Dagster's run and step processes, dbt, the comparison's workers) then loads its
# imports from bytecode, also where bytecode cannot be written at run time (PYTHONDONTWRITEBYTECODE).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8

export TRADEPIPE_HOME ?= $(CURDIR)/.tradepipe
# Settings: tradepipe.toml, overridden key by key by the file TRADEPIPE_CONFIG names, e.g.
# `make demo TRADEPIPE_CONFIG=my.toml` with my.toml holding `horizon = 20`. Not given: the root file only.
ifneq ($(strip $(TRADEPIPE_CONFIG)),)
override TRADEPIPE_CONFIG := $(abspath $(TRADEPIPE_CONFIG))
export TRADEPIPE_CONFIG
endif
export DAGSTER_HOME ?= $(TRADEPIPE_HOME)/dagster
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.md' \) -print)

.PHONY: browser setup dagster-home demo compare test ui bench clean

setup: $(VENV)/.installed $(MANIFEST) dagster-home

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv sync --frozen --quiet --compile-bytecode --python $(BIN)/python
	@touch $@

# The dbt manifest that @dbt_assets reads at import: prepared here, never at import time.
# Parsed against the warehouse and with the dbt vars the runs use, so their partial parse stays
# valid (dbt re-parses everything when the rendered profile or the vars change).
$(MANIFEST): $(VENV)/.installed $(DBT_SOURCES) tradepipe.toml $(wildcard $(TRADEPIPE_CONFIG))
	dbt_vars="$$($(BIN)/python -m ml.config dbt-vars)" && cd dbt_project && \
	TRADEPIPE_WAREHOUSE="$(TRADEPIPE_HOME)/warehouse.duckdb" ../$(BIN)/dbt parse --quiet --profiles-dir . --vars "$$dbt_vars"
	@touch $@

# The Dagster instance folder (quoted: a home path may hold spaces), and the run config of the
# command-line runs below: their console (assets/console.py) at LOG_LEVEL.
dagster-home:
	@mkdir -p "$(DAGSTER_HOME)"
	@test -f "$(DAGSTER_HOME)/dagster.yaml" || \
	  printf 'telemetry:\n  enabled: false\nnux:\n  enabled: false\n' > "$(DAGSTER_HOME)/dagster.yaml"
	@printf '{"loggers": {"console": {"config": {"log_level": "%s"}}}}\n' "$(LOG_LEVEL)" > "$(RUN_CONFIG)"

# What a command-line run prints: each step's progress and end, failed checks, warnings, errors
# (`make demo LOG_LEVEL=DEBUG`: every Dagster event and dbt's line per model). The event log in the
# UI keeps everything either way.
LOG_LEVEL ?= INFO
RUN_CONFIG = $(DAGSTER_HOME)/console.json
# Library notices nobody running the demo can act on, silenced for these commands only: Dagster's
# "superseded by `dg launch`" on `dagster asset materialize` / `dagster job execute` (the dg CLI
# is not part of the stack) and the beta notice its own --select parser raises. Our warnings and
# every other library's still show.
DAGSTER := PYTHONWARNINGS='ignore:Function `asset_materialize_command` is superseded:FutureWarning,ignore:Function `job_execute_command` is superseded:FutureWarning,ignore:Parameter `include_sources`:Warning' $(BIN)/dagster

# The market date the demo trades: the last date in the price files (`tradepipe last-date`),
# unless DEMO_DATE is given.
DEMO_DATE ?= $$($(BIN)/tradepipe last-date)

demo: setup
	@day="$(DEMO_DATE)" || exit 1; echo "market date: $$day"; \
	$(DAGSTER) asset materialize -m assets.definitions --select 'not group:selection' --partition "$$day" -c "$(RUN_CONFIG)"
	$(BIN)/tradepipe summary

# After the demo's pipeline, every candidate model x optimizer compared (compare_job); the winner
# becomes champion with its optimizer (ml.model_comparison, reports/model_selection/). Then the
# demo's assets again: the backtest and the demo date's trades by the champion (unchanged when no
# candidate passed the thresholds). Last, the comparison's verdict (`tradepipe comparison`).
compare: demo
	@echo "model comparison (compare_job):"
	@$(DAGSTER) job execute -m assets.definitions -j compare_job -c "$(RUN_CONFIG)"
	@day="$(DEMO_DATE)" || exit 1; \
	$(DAGSTER) asset materialize -m assets.definitions --select 'not group:selection' --partition "$$day" -c "$(RUN_CONFIG)"
	$(BIN)/tradepipe summary
	$(BIN)/tradepipe comparison

# The browser test drives Debian's Chromium: installed here when missing and possible (root and
# apt-get); otherwise that one test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
	    { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }; } && \
	  echo "installed chromium for the browser test"; } || \
	echo "chromium is not installed and could not be (needs root and apt-get): the browser test will be skipped"

test: setup browser
	$(BIN)/pytest

ui: setup
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf "$(TRADEPIPE_HOME)" dbt_project/target dbt_project/logs
