"""Daily predictions: a re-run replaces the date's live predictions as a whole, and the checks
judge the partition the run materialized."""

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.resources import SAMPLE_DIR
from tests.helpers import SAMPLE_LAST_DATE, WAREHOUSE_ONLY, materialize_pipeline, query

PREDICTIONS = dg.AssetSelection.assets(["ml", "daily_predictions"])
PUBLISH = dg.AssetSelection.assets(["publish", "analytics_db"])


@pytest.fixture()
def home_copy(sample_home, tmp_path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(sample_home, home, ignore=shutil.ignore_patterns("dagster"))
    return home


def test_a_rerun_after_tickers_lost_their_last_bar_publishes_no_live_prediction_for_them(home_copy, tmp_path):
    live = "select ticker from ml.preds where kind = 'live' and date = '2017-11-10'"
    before = set(query(home_copy, live).ticker)
    lost = sorted(before)[:10]
    prices = tmp_path / "prices.csv"
    with duckdb.connect() as con:
        con.execute(f"""copy (select * from read_csv('{SAMPLE_DIR / "prices.csv.gz"}', all_varchar=true)
                     where not (date = '{SAMPLE_LAST_DATE}' and list_contains(?, ticker)))
                     to '{prices}' (header)""", [lost])
    result = materialize_pipeline(home_copy, prices=prices, selection=WAREHOUSE_ONLY | PREDICTIONS,
                                  raise_on_error=False)
    materialized = {tuple(e.asset_key.path) for e in result.get_asset_materialization_events()}
    assert ("ml", "daily_predictions") in materialized
    assert materialize_pipeline(home_copy, prices=prices, selection=PUBLISH).success
    after = set(query(home_copy, live).ticker)
    assert after == before - set(lost) and len(after) >= 80
    with duckdb.connect(str(home_copy / "analytics.duckdb"), read_only=True) as con:
        published = {t for (t,) in con.execute(live).fetchall()}
    assert published == after


def test_the_checks_judge_the_partition_of_the_run(home_copy):
    result = materialize_pipeline(home_copy, selection=PREDICTIONS | dg.AssetSelection.assets(["marts", "fct_prices"]),
                                  partition_key="2016-03-01")
    evaluations = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    for name in ("predictions_finite", "every_universe_ticker_scored", "latest_date_coverage"):
        assert evaluations[name].metadata["date"].value == "2016-03-01", name
        assert evaluations[name].passed, name
