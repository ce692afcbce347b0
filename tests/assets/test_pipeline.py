"""End to end: every asset materialized on the bundled sample into a temporary warehouse."""

import duckdb
import pandas as pd
import pytest

from tests.helpers import materialize_pipeline, query

CONTRACT = {
    "marts.fct_features": ["ticker", "date"],
    "marts.fct_labels": ["ticker", "date", "horizon", "fwd_return", "fwd_excess_return", "label_end_date"],
    "marts.fct_training_panel": ["ticker", "date", "horizon", "fwd_return", "fwd_excess_return", "label_end_date"],
    "marts.fct_regime_features": ["date"],
    "marts.quarantine": ["ticker", "date", "rule", "detail"],
}
NOT_FEATURES = {"ticker", "date", "sector", "close", "close_raw", "history_days"}


def columns(home, table):
    schema, name = table.split(".")
    return query(home, f"select column_name, data_type from information_schema.columns "
                       f"where table_schema = '{schema}' and table_name = '{name}'")


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_contract_tables_have_their_columns(sample_home, table):
    found = set(columns(sample_home, table).column_name)
    assert set(CONTRACT[table]) <= found


def test_at_least_30_numeric_features_and_8_regime_features(sample_home):
    features = columns(sample_home, "marts.fct_features")
    numeric = features[features.data_type.isin(["DOUBLE", "BIGINT", "INTEGER", "FLOAT"])]
    assert len(set(numeric.column_name) - NOT_FEATURES) >= 30
    regime = columns(sample_home, "marts.fct_regime_features")
    assert len(set(regime.column_name) - {"date"}) >= 8


def test_sample_builds_real_history(sample_home):
    counts = query(sample_home, """
        select (select count(distinct ticker) from marts.fct_features) as tickers,
               (select count(*) from marts.fct_training_panel where horizon = 5) as panel_5d,
               (select count(*) from marts.fct_regime_features where gspc_vol_20d is not null) as regime_days
    """).iloc[0]
    assert counts.tickers == 101
    assert counts.panel_5d > 100_000
    assert counts.regime_days > 1900


def test_flagged_glitch_rows_of_the_sample_are_quarantined(sample_home):
    from assets.resources import SAMPLE_DIR

    flags = duckdb.sql(f"select ticker, date, flag from read_csv('{SAMPLE_DIR / 'flags.csv.gz'}')").df()
    quarantined = query(sample_home, "select ticker, date from marts.quarantine")
    keys = set(zip(quarantined.ticker, pd.to_datetime(quarantined.date)))
    bad_bars = flags[flags.flag.isin(["ohlc_inconsistent", "zero_volume"])]
    missing = [(t, d) for t, d in zip(bad_bars.ticker, pd.to_datetime(bad_bars.date)) if (t, d) not in keys]
    assert missing == []
    # A close_jump flag marks both the glitch day (also OHLC-inconsistent, quarantined above) and the
    # day the price comes back; the latter is a correct bar and must stay.
    jumps = flags[flags.flag == "close_jump_gt5x"]
    glitch_days = set(zip(bad_bars.ticker, pd.to_datetime(bad_bars.date)))
    reversals = [(t, d) for t, d in zip(jumps.ticker, pd.to_datetime(jumps.date)) if (t, d) not in glitch_days]
    assert reversals, "the sample has reversal days"
    assert [k for k in reversals if k in keys] == []


def test_dbt_tests_run_as_asset_checks_and_pass(sample_home):
    # The session fixture raised on any failure; here we look at the checks themselves.
    failing = query(sample_home, "select count(*) as n from marts.fct_features where rsi_14 < 0 or rsi_14 > 100")
    assert failing.n.iloc[0] == 0


def test_bad_input_fails_the_run_and_keeps_the_previous_tables(sample_home, tmp_path):
    before = {t: query(sample_home, f"select count(*) as n, sum(hash(t)) as h from {t} as t").iloc[0].tolist()
              for t in ["raw.prices", "marts.fct_features", "marts.fct_labels"]}
    bad = tmp_path / "prices.csv"
    bad.write_text("date,ticker,open,high,low,close,volume\n2018-01-02,AAA,ten,11,9,10,100\n")
    result = materialize_pipeline(sample_home, prices=bad, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "column 'open' has 1 non-numeric value" in str(failure.event_specific_data.error)
    after = {t: query(sample_home, f"select count(*) as n, sum(hash(t)) as h from {t} as t").iloc[0].tolist()
             for t in before}
    assert after == before
