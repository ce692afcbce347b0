"""Freshness and coverage rules: stale prices warn; thin coverage of the latest date blocks trading."""

import shutil

import dagster as dg
import duckdb
import pandas as pd

from assets.checks import latest_date_coverage, prices_fresh
from assets.resources import TradepipeSettings
from ml.market_calendar import last_completed_session
from tests.helpers import materialize_pipeline


def _warehouse_with_prices(home, dates):
    home.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("create schema raw")
        con.execute("create table raw.prices (date date, ticker varchar)")
        con.executemany("insert into raw.prices values (?, 'A')", [[d] for d in dates])


def test_prices_fresh_warns_on_stale_data_and_passes_on_the_last_session(tmp_path):
    last = last_completed_session(pd.Timestamp.now(tz="UTC"))
    _warehouse_with_prices(tmp_path / "fresh", [last.date()])
    result = prices_fresh(settings=TradepipeSettings(home=str(tmp_path / "fresh")))
    assert result.passed
    _warehouse_with_prices(tmp_path / "stale", [pd.Timestamp("2017-11-10").date()])
    result = prices_fresh(settings=TradepipeSettings(home=str(tmp_path / "stale")))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["sessions_behind"].value > 2000


def test_sample_latest_date_has_full_coverage(sample_home):
    result = latest_date_coverage(context=dg.build_asset_check_context(),
                                  settings=TradepipeSettings(home=str(sample_home)))
    assert result.passed, result.description
    assert result.metadata["coverage"].value > 0.95


def test_thin_coverage_blocks_trading(sample_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(sample_home, home, ignore=shutil.ignore_patterns("dagster"))
    selection = dg.AssetSelection.assets(["marts", "fct_prices"], ["trading", "signals"],
                                         ["trading", "target_weights"], ["trading", "trades"])
    result = materialize_pipeline(home, selection=selection, raise_on_error=False,
                                  settings_overrides={"min_coverage": 1.01})
    evaluations = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["latest_date_coverage"].passed
    materialized = {tuple(e.asset_key.path) for e in result.get_asset_materialization_events()}
    assert ("marts", "fct_prices") in materialized
    # signals do not read prices; weights and trades do, and are stopped
    assert not materialized & {("trading", "target_weights"), ("trading", "trades")}


def test_a_last_day_that_repeats_the_previous_bars_blocks_trading(tmp_path):
    """A stale feed: the last date's bars are the previous date's, unchanged."""
    from assets.checks import last_day_not_stale
    from assets.ingest import raw_tables
    from tests.helpers import tiny_market

    paths = tiny_market(tmp_path / "input")
    settings = TradepipeSettings(home=str(tmp_path / "home"), **{k: str(v) for k, v in paths.items()})
    assert dg.materialize([raw_tables], resources={"settings": settings}).success
    fresh = last_day_not_stale(context=dg.build_asset_check_context(), settings=settings)
    assert fresh.passed and fresh.metadata["compared"].value == 4

    lines = paths["prices"].read_text().splitlines()
    last = max(line.split(",")[0] for line in lines[1:])
    previous = max(line.split(",")[0] for line in lines[1:] if line.split(",")[0] < last)
    stale = [line for line in lines if not line.startswith(last)]
    stale += [line.replace(previous, last, 1) for line in lines if line.startswith(previous)]
    paths["prices"].write_text("\n".join(stale) + "\n")
    assert dg.materialize([raw_tables], resources={"settings": settings}).success
    result = last_day_not_stale(context=dg.build_asset_check_context(), settings=settings)
    assert not result.passed
    assert result.metadata["repeated"].value == result.metadata["compared"].value == 4
