# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
# Every target first installs what it needs into .venv/ (uv, from pip, then the locked stack).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8

export TRADEPIPE_HOME ?= $(CURDIR)/.tradepipe
export DAGSTER_HOME ?= $(TRADEPIPE_HOME)/dagster
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.md' \) -print)

.PHONY: setup demo test ui bench clean

setup: $(VENV)/.installed $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv sync --frozen --quiet --python $(BIN)/python
	@touch $@

# The dbt manifest that @dbt_assets reads at import: prepared here, never at import time.
# Parsed against the warehouse the runs use, so their partial parse stays valid (dbt re-parses
# everything when the rendered profile changes).
$(MANIFEST): $(VENV)/.installed $(DBT_SOURCES)
	cd dbt_project && TRADEPIPE_WAREHOUSE=$(TRADEPIPE_HOME)/warehouse.duckdb ../$(BIN)/dbt parse --quiet --profiles-dir .
	@touch $@

$(DAGSTER_HOME)/dagster.yaml:
	@mkdir -p $(DAGSTER_HOME)
	@printf 'telemetry:\n  enabled: false\n' > $@

# The market date the demo trades: the bundled sample's last day (set DEMO_DATE for other data).
DEMO_DATE ?= 2017-11-10

demo: setup
	$(BIN)/dagster asset materialize -m assets.definitions --select '*' --partition $(DEMO_DATE)
	$(BIN)/tradepipe summary

test: setup
	$(BIN)/pytest

ui: setup
	$(BIN)/dagster dev -m assets.definitions -h 127.0.0.1 -p 3000

bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf $(TRADEPIPE_HOME) dbt_project/target dbt_project/logs
