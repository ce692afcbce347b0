"""dbt models on a crafted tiny market: hand-computed values for each feature family, each
quarantine rule firing on its crafted bar, labels and the as-of macro lag."""

import os
import json
import re
import shutil
import subprocess

import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.dbt import DBT_EXECUTABLE, DBT_PROJECT_DIR
from assets.warehouse import marts
from ml.config import load_config
from tests.helpers import query

DAYS = pd.bdate_range("2020-01-01", periods=120)


@pytest.fixture(scope="module")
def built(tiny_home):
    home, paths = tiny_home
    prices = pd.read_csv(paths["prices"])
    prices["date"] = pd.to_datetime(prices["date"])
    clean = prices[prices.ticker != "BAD"].sort_values(["ticker", "date"])
    return home, clean


def feature(home, ticker, day, column):
    row = query(home, f"select {column} from marts.fct_features where ticker = '{ticker}' "
                      f"and date = '{DAYS[day].date()}'")
    assert len(row) == 1, (ticker, day)
    return row[column].iloc[0]


def series(clean, ticker, column):
    return clean[clean.ticker == ticker].set_index("date")[column].astype(float).to_numpy()


def test_returns_and_momentum(built):
    home, clean = built
    close = series(clean, "A", "close")
    assert feature(home, "A", 30, "ret_5d") == pytest.approx(close[30] / close[25] - 1, rel=1e-12)
    assert feature(home, "A", 30, "ret_20d") == pytest.approx(close[30] / close[10] - 1, rel=1e-12)
    assert pd.isna(feature(home, "A", 4, "ret_5d"))  # NULL until the window is full
    assert pd.isna(feature(home, "A", 119, "ret_252d"))


def test_volatility(built):
    home, clean = built
    close = series(clean, "A", "close")
    returns = close[1:] / close[:-1] - 1  # returns[k] is the return of day k + 1
    assert feature(home, "A", 30, "vol_20d") == pytest.approx(np.std(returns[10:30], ddof=1), rel=1e-9)
    assert pd.isna(feature(home, "A", 19, "vol_20d"))  # day 19 has only 19 daily returns
    assert not pd.isna(feature(home, "A", 20, "vol_20d"))
    high, low = series(clean, "A", "high"), series(clean, "A", "low")
    parkinson = np.sqrt(np.mean(np.log(high[11:31] / low[11:31]) ** 2) / (4 * np.log(2)))
    assert feature(home, "A", 30, "parkinson_vol_20d") == pytest.approx(parkinson, rel=1e-9)


def test_candle_and_trend(built):
    home, clean = built
    o, h, l, c = (series(clean, "B", k) for k in ("open", "high", "low", "close"))
    assert feature(home, "B", 40, "kmid") == pytest.approx((c[40] - o[40]) / o[40], rel=1e-12)
    assert feature(home, "B", 40, "kup") == pytest.approx((h[40] - max(o[40], c[40])) / o[40], rel=1e-12)
    assert feature(home, "B", 40, "close_to_ma5") == pytest.approx(c[40] / c[36:41].mean(), rel=1e-12)
    slope = np.polyfit(np.arange(20), np.log(c[21:41]), 1)[0]
    assert feature(home, "B", 40, "trend_slope_20d") == pytest.approx(slope, rel=1e-9)


def test_oscillators(built):
    home, clean = built
    c = series(clean, "C", "close")
    diff = np.diff(c)[36:50]  # the 14 moves ending on day 50
    gain, loss = np.clip(diff, 0, None).mean(), np.clip(-diff, 0, None).mean()
    assert feature(home, "C", 50, "rsi_14") == pytest.approx(100 * gain / (gain + loss), rel=1e-9)
    high, low = series(clean, "C", "high"), series(clean, "C", "low")
    rsv = (c[50] - low[31:51].min()) / (high[31:51].max() - low[31:51].min())
    assert feature(home, "C", 50, "rsv_20") == pytest.approx(rsv, rel=1e-12)


def test_volume_and_liquidity(built):
    home, clean = built
    v, c = series(clean, "A", "volume"), series(clean, "A", "close")
    assert feature(home, "A", 30, "volume_ratio_20d") == pytest.approx(v[30] / v[11:31].mean(), rel=1e-12)
    assert feature(home, "A", 30, "log_dollar_volume_20d") == pytest.approx(
        np.log((c[11:31] * v[11:31]).mean()), rel=1e-12)


def test_market_relative_and_cross_sectional(built):
    home, clean = built
    # Up to day 70 every ticker, BAD included, has clean bars: the market is their mean return.
    closes = {t: series(clean, t, "close") for t in ("A", "B", "C")}
    raw = pd.read_csv(built[0] / "input" / "prices.csv")
    bad_close = raw[raw.ticker == "BAD"].drop_duplicates("date")["close"].iloc[:71].astype(float).to_numpy()
    rets = {t: c[1:71] / c[:70] - 1 for t, c in closes.items()}
    rets["BAD"] = bad_close[1:] / bad_close[:-1] - 1
    market = np.mean(list(rets.values()), axis=0)
    y, x = rets["A"][-60:], market[-60:]
    beta = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    assert feature(home, "A", 70, "beta_60d") == pytest.approx(beta, rel=1e-9)
    r20 = {t: c[30] / c[10] - 1 for t, c in closes.items()}
    assert feature(home, "A", 30, "ret_20d_vs_sector") == pytest.approx(r20["A"] - (r20["A"] + r20["B"]) / 2, rel=1e-9)
    r5 = {t: c[30] / c[25] - 1 for t, c in closes.items()}
    r5["BAD"] = bad_close[30] / bad_close[25] - 1
    values = np.array(list(r5.values()))
    expected_z = (r5["A"] - values.mean()) / values.std(ddof=1)
    assert feature(home, "A", 30, "zscore_ret_5d") == pytest.approx(expected_z, rel=1e-9)


def test_each_quarantine_rule_fires_on_its_crafted_bar(built):
    home, _ = built
    found = query(home, "select date, rule from marts.quarantine where ticker = 'BAD' order by date, rule")
    got = {(d.date(), r) for d, r in zip(pd.to_datetime(found.date), found.rule)}
    expected = {(DAYS[100].date(), "nonpositive_price"), (DAYS[102].date(), "ohlc_inconsistent"),
                (DAYS[104].date(), "nonpositive_volume"), (DAYS[106].date(), "duplicate_conflict"),
                (DAYS[108].date(), "missing_value"), (DAYS[110].date(), "close_jump")}
    assert got == expected
    assert query(home, "select count(*) as n from marts.quarantine where ticker <> 'BAD'").n.iloc[0] == 0


def test_quarantined_bars_feed_neither_features_nor_labels(built):
    home, _ = built
    bad_days = [str(DAYS[i].date()) for i in (100, 102, 104, 106, 108, 110)]
    listed = ", ".join(f"'{d}'" for d in bad_days)
    assert query(home, f"select count(*) as n from marts.fct_features where ticker = 'BAD' "
                       f"and date in ({listed})").n.iloc[0] == 0
    assert query(home, f"select count(*) as n from marts.fct_labels where ticker = 'BAD' "
                       f"and (entry_date in ({listed}) or label_end_date in ({listed}))").n.iloc[0] == 0
    # The day after the decimal shift is a correct bar and stays.
    assert feature(home, "BAD", 111, "kmid") is not None


def test_labels_run_from_next_open(built):
    home, clean = built
    o = series(clean, "A", "open")
    labels = query(home, f"select horizon, fwd_return, label_end_date from marts.fct_labels "
                         f"where ticker = 'A' and date = '{DAYS[30].date()}' order by horizon")
    assert labels.horizon.tolist() == [1, 5, 20]
    assert labels.fwd_return.tolist() == pytest.approx([o[32] / o[31] - 1, o[36] / o[31] - 1, o[51] / o[31] - 1], rel=1e-12)
    assert [d.date() for d in pd.to_datetime(labels.label_end_date)] == [DAYS[32].date(), DAYS[36].date(), DAYS[51].date()]


def test_macro_joins_as_of_the_previous_business_day(built):
    home, _ = built
    macro_days = pd.bdate_range("2019-12-02", periods=140)
    vix = 15 + 0.1 * np.arange(len(macro_days))
    regime = query(home, f"select date, vix, term_spread from marts.fct_regime_features where date = '{DAYS[30].date()}'")
    previous = macro_days.get_loc(DAYS[29])
    assert regime.vix.iloc[0] == pytest.approx(vix[previous])
    assert regime.term_spread.iloc[0] == pytest.approx((2.0 + 0.005 * previous) - (1.5 + 0.01 * previous))


def test_dbt_unit_tests_pass(tiny_home):
    """The dbt unit tests (SQL logic on fixtures) -- left out of the pipeline's builds -- pass."""
    home, _ = tiny_home
    env = {**os.environ, "TRADEPIPE_WAREHOUSE": str(home / "warehouse.duckdb"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([DBT_EXECUTABLE, "test", "--select", "test_type:unit", "--target-path",
                           str(home / "dbt_unit_target")], cwd=DBT_PROJECT_DIR, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    summary = re.search(r"PASS=(\d+) WARN=\d+ ERROR=(\d+)", done.stdout)
    assert summary and int(summary.group(1)) >= 5 and summary.group(2) == "0", done.stdout[-2000:]


def test_the_base_feature_set_builds_no_alpha158(built):
    """With the default [training] feature_set (base) the dbt var alpha158 is off: no
    marts.fct_alpha158, no Alpha158 columns in the panel, and the readers do without them."""
    home, _ = built
    assert load_config(None).dbt_vars()["alpha158"] is False
    tables = query(home, "select table_name from duckdb_tables() where schema_name = 'marts'").table_name.tolist()
    assert "fct_features" in tables and "fct_alpha158" not in tables
    panel = query(home, "select * from marts.fct_training_panel limit 0")
    assert not [c for c in panel.columns if c.startswith("a158_")]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        day = pd.Timestamp(con.execute("select max(date) from marts.fct_features").fetchone()[0])
        assert not marts.has_alpha158(con)
        assert len(marts.features_on(con, day)) > 0


def test_a_feature_set_with_alpha158_builds_it_into_the_panel(built, tmp_path):
    """feature_set = "all": the var alpha158 enables marts.fct_alpha158 and the training panel
    joins its 158 columns (dbt on a copy of the tiny market's warehouse, only these two models)."""
    home, _ = built
    config = tmp_path / "all.toml"
    config.write_text('[training]\nfeature_set = "all"\n')
    dbt_vars = load_config(config).dbt_vars()
    assert dbt_vars["alpha158"] is True
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(home / "warehouse.duckdb", warehouse)
    env = {**os.environ, "TRADEPIPE_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([DBT_EXECUTABLE, "run", "--select", "fct_alpha158", "fct_training_panel",
                           "--vars", json.dumps(dbt_vars), "--target-path", str(tmp_path / "target"),
                           "--log-path", str(tmp_path / "logs")], cwd=DBT_PROJECT_DIR, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert marts.has_alpha158(con)
        assert con.execute("select count(*) from marts.fct_alpha158").fetchone()[0] \
            == con.execute("select count(*) from marts.fct_features").fetchone()[0]
        panel = marts.training_panel(con, 5, feature_set="all")
        alpha = [c for c in panel.columns if c.startswith("a158_")]
        assert len(alpha) == 158
        assert con.execute("select count(a158_ma5) from marts.fct_alpha158").fetchone()[0] > 0  # the panel: no universe here
        day = pd.Timestamp(con.execute("select max(date) from marts.fct_features").fetchone()[0])
        assert "a158_ma60" in marts.features_on(con, day).columns
