"""Tests for ml.ingest.synthetic: the shape, consistency and hidden-state properties the
benchmarks and the regime tests rely on. Small sizes only; the whole file runs in seconds."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from ml.ingest.synthetic import (
    MACRO_SERIES,
    REGIMES,
    SECTORS,
    SyntheticMarket,
    generate_market,
    write_market,
)

N_TICKERS, N_YEARS, SEED = 20, 2, 0
N_DAYS = 504


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return generate_market(N_TICKERS, N_YEARS, SEED)


def _equal_weight_returns(market: SyntheticMarket) -> pd.Series:
    """Daily mean across tickers of simple close-to-close returns, indexed by date."""
    close = market.prices.pivot(index="date", columns="ticker", values="close")
    return close.pct_change().mean(axis=1).dropna()


def _macro_without_index(market: SyntheticMarket) -> pd.DataFrame:
    """The macro series other than ``^GSPC``, which is the only one built from prices."""
    return market.macro[market.macro["series"] != "^GSPC"].reset_index(drop=True)


def _regime_by_date(market: SyntheticMarket) -> pd.Series:
    return market.regimes.set_index("date")["regime"]


# --- determinism -------------------------------------------------------------------------


def test_same_seed_gives_identical_frames(market: SyntheticMarket) -> None:
    again = generate_market(N_TICKERS, N_YEARS, SEED)
    for field in ("prices", "macro", "sectors", "regimes"):
        assert_frame_equal(getattr(again, field), getattr(market, field))


def test_different_seeds_differ(market: SyntheticMarket) -> None:
    other = generate_market(N_TICKERS, N_YEARS, SEED + 1)
    assert not np.allclose(other.prices["close"], market.prices["close"])
    assert not other.regimes["regime"].equals(market.regimes["regime"])


def test_hidden_history_does_not_depend_on_n_tickers(market: SyntheticMarket) -> None:
    wider = generate_market(N_TICKERS + 7, N_YEARS, SEED)
    assert_frame_equal(wider.regimes, market.regimes)
    assert_frame_equal(_macro_without_index(wider), _macro_without_index(market))


# --- shape -------------------------------------------------------------------------------


def test_prices_columns_dtypes_and_row_count(market: SyntheticMarket) -> None:
    prices = market.prices
    assert list(prices.columns) == ["date", "ticker", "open", "high", "low", "close", "volume"]
    assert pd.api.types.is_datetime64_dtype(prices["date"])
    assert pd.api.types.is_string_dtype(prices["ticker"])
    for column in ("open", "high", "low", "close"):
        assert prices[column].dtype == np.float64
    assert prices["volume"].dtype == np.int64
    assert len(prices) == N_TICKERS * N_DAYS
    assert not prices.duplicated(["ticker", "date"]).any()
    assert prices.notna().all().all()


def test_dates_are_consecutive_weekdays_from_start(market: SyntheticMarket) -> None:
    dates = pd.DatetimeIndex(market.regimes["date"])
    assert len(dates) == N_DAYS
    assert dates[0] == pd.Timestamp("2010-01-04")
    assert (dates.dayofweek < 5).all()
    assert dates.equals(pd.bdate_range("2010-01-04", periods=N_DAYS))
    for frame in (market.prices, market.macro):
        assert set(frame["date"]) == set(dates)


def test_weekend_start_moves_to_next_monday() -> None:
    saturday = generate_market(2, 0.1, SEED, start="2015-03-07")
    assert saturday.regimes["date"].iloc[0] == pd.Timestamp("2015-03-09")


def test_n_days_rounds_252_per_year() -> None:
    assert len(generate_market(1, 1.5, SEED).regimes) == 378
    assert len(generate_market(1, 1 / 252, SEED).regimes) == 1


def test_ticker_names_are_zero_padded(market: SyntheticMarket) -> None:
    assert market.sectors["ticker"].tolist() == [f"T{k:04d}" for k in range(1, N_TICKERS + 1)]
    wide = generate_market(12_345, 1 / 252, SEED)
    assert wide.sectors["ticker"].iloc[[0, -1]].tolist() == ["T00001", "T12345"]


def test_every_ticker_has_a_sector(market: SyntheticMarket) -> None:
    sectors = market.sectors
    assert list(sectors.columns) == ["ticker", "sector", "name"]
    assert sectors["ticker"].is_unique
    assert set(sectors["ticker"]) == set(market.prices["ticker"])
    assert sectors["sector"].notna().all() and sectors["name"].notna().all()
    assert set(sectors["sector"]) == set(SECTORS)  # 20 tickers cover all 11 sectors


# --- bars --------------------------------------------------------------------------------


def test_ohlc_is_consistent_and_positive(market: SyntheticMarket) -> None:
    p = market.prices
    assert (p[["open", "high", "low", "close"]] > 0).all().all()
    assert (p["high"] >= np.maximum(p["open"], p["close"])).all()
    assert (p["low"] <= np.minimum(p["open"], p["close"])).all()
    assert (p["volume"] > 0).all()


def test_open_is_previous_close_plus_a_small_gap(market: SyntheticMarket) -> None:
    p = market.prices.sort_values(["ticker", "date"])
    gap = p["open"] / p.groupby("ticker")["close"].shift() - 1.0
    assert gap.abs().max() < 0.2
    assert gap.abs().median() < 0.01
    first_open = p.groupby("ticker")["open"].first()
    assert first_open.between(50 * 0.8, 150 * 1.2).all()


# --- hidden state ------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[0, 1, 2])
def long_market(request: pytest.FixtureRequest) -> SyntheticMarket:
    """Five years, so every seed visits all three regimes for a fair comparison."""
    return generate_market(N_TICKERS, 5, request.param)


def test_regime_labels_are_the_three_states(long_market: SyntheticMarket) -> None:
    assert list(long_market.regimes.columns) == ["date", "regime"]
    assert set(long_market.regimes["regime"]) == set(REGIMES)


def test_risk_off_market_is_more_volatile(long_market: SyntheticMarket) -> None:
    returns = _equal_weight_returns(long_market)
    regime = _regime_by_date(long_market).reindex(returns.index)
    vol = returns.groupby(regime).std()
    assert vol["risk_off"] > 2.0 * vol["risk_on"]


def test_regime_chain_is_persistent(long_market: SyntheticMarket) -> None:
    regime = long_market.regimes["regime"]
    n_runs = int((regime != regime.shift()).sum())
    assert len(regime) / n_runs > 10


def test_risk_off_volume_is_higher(long_market: SyntheticMarket) -> None:
    p = long_market.prices.merge(long_market.regimes, on="date")
    median = p.groupby("regime")["volume"].median()
    assert median["risk_off"] > median["risk_on"]


def test_vix_and_credit_spread_follow_the_regime(long_market: SyntheticMarket) -> None:
    macro = long_market.macro.merge(long_market.regimes, on="date")
    means = macro.groupby(["series", "regime"])["value"].mean().unstack()
    for series in ("VIXCLS", "BAMLH0A0HYM2"):
        assert means.loc[series, "risk_on"] < means.loc[series, "neutral"]
        assert means.loc[series, "neutral"] < means.loc[series, "risk_off"]


# --- macro -------------------------------------------------------------------------------


def test_macro_is_tidy_with_all_series(market: SyntheticMarket) -> None:
    macro = market.macro
    assert list(macro.columns) == ["date", "series", "value"]
    assert macro["value"].dtype == np.float64
    assert macro.groupby("series").size().to_dict() == {s: N_DAYS for s in MACRO_SERIES}
    assert not macro.duplicated(["series", "date"]).any()
    assert macro["value"].notna().all()


def test_yields_are_positive_and_curve_mostly_upward(market: SyntheticMarket) -> None:
    wide = market.macro.pivot(index="date", columns="series", values="value")
    assert (wide["DGS2"] > 0).all()
    assert (wide["DGS10"] > wide["DGS2"]).mean() > 0.9


def test_gspc_is_the_equal_weight_index(market: SyntheticMarket) -> None:
    gspc = market.macro[market.macro["series"] == "^GSPC"].set_index("date")["value"]
    assert gspc.iloc[0] == 1000.0
    expected = 1000.0 * (1.0 + _equal_weight_returns(market)).cumprod()
    np.testing.assert_allclose(gspc.iloc[1:].to_numpy(), expected.to_numpy(), rtol=1e-10)


# --- writing -----------------------------------------------------------------------------


def test_write_market_round_trip(market: SyntheticMarket, tmp_path: Path) -> None:
    folder = tmp_path / "new" / "raw"
    paths = write_market(market, folder)
    assert paths == {name: folder / f"{name}.parquet" for name in ("prices", "macro", "sectors")}
    con = duckdb.connect()
    for name, path in paths.items():
        assert path.is_file()
        frame = getattr(market, name)
        (n_rows,) = con.execute("select count(*) from read_parquet(?)", [str(path)]).fetchone()
        assert n_rows == len(frame)
        columns = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
        types = {column: kind for column, kind, *_ in columns}
        assert list(types) == list(frame.columns)
        if "date" in types:
            assert types["date"] == "DATE"
    total_volume, first_date = con.execute(
        "select sum(volume), min(date) from read_parquet(?)", [str(paths["prices"])]
    ).fetchone()
    assert total_volume == market.prices["volume"].sum()
    assert str(first_date) == "2010-01-04"


def test_write_market_overwrites(market: SyntheticMarket, tmp_path: Path) -> None:
    write_market(generate_market(3, 0.1, SEED), tmp_path)
    paths = write_market(market, tmp_path)
    (n_rows,) = duckdb.sql(f"select count(*) from '{paths['prices']}'").fetchone()
    assert n_rows == len(market.prices)


# --- bad arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_tickers": 0}, r"n_tickers must be >= 1, got n_tickers=0"),
        ({"n_tickers": -5}, r"n_tickers must be >= 1, got n_tickers=-5"),
        ({"n_years": 0}, r"n_years must be a finite number > 0, got 0"),
        ({"n_years": -1.5}, r"n_years must be a finite number > 0, got -1.5"),
        ({"n_years": math.nan}, r"n_years must be a finite number > 0, got nan"),
        ({"n_years": math.inf}, r"n_years must be a finite number > 0, got inf"),
        ({"n_years": 0.001}, r"n_years=0.001 is shorter than one trading day"),
        ({"seed": -1}, r"seed must be >= 0, got seed=-1"),
        ({"start": "not-a-date"}, r"start must be a date .*got 'not-a-date'"),
        ({"start": "2010-01-04 09:30"}, r"start must be a date without a time of day"),
    ],
)
def test_bad_values_raise(kwargs: dict[str, object], match: str) -> None:
    arguments = {"n_tickers": 3, "n_years": 0.1, "seed": SEED} | kwargs
    with pytest.raises(ValueError, match=match):
        generate_market(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_tickers": 2.5}, r"n_tickers must be an integer, got 2.5"),
        ({"n_tickers": True}, r"n_tickers must be an integer, got True"),
        ({"seed": None}, r"seed must be an integer, got None"),
        ({"n_years": "2"}, r"n_years must be a number, got '2'"),
    ],
)
def test_bad_types_raise(kwargs: dict[str, object], match: str) -> None:
    arguments = {"n_tickers": 3, "n_years": 0.1, "seed": SEED} | kwargs
    with pytest.raises(TypeError, match=match):
        generate_market(**arguments)  # type: ignore[arg-type]
