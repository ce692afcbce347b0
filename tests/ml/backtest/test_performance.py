"""Tests for ml.backtest.performance on hand-computed tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml.backtest import (
    TRADING_DAYS,
    drawdown,
    equity_curve,
    performance_summary,
    regime_breakdown,
)

SQRT252 = math.sqrt(TRADING_DAYS)


def _series(values: list[float], start: str = "2024-01-01") -> pd.Series:
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)), dtype=float)


# --------------------------------------------------------------------------- #
# performance_summary
# --------------------------------------------------------------------------- #


def test_summary_hand_computed_three_days() -> None:
    r = [0.1, -0.05, 0.02]
    s = performance_summary(_series(r))
    final = 1.1 * 0.95 * 1.02
    mean = sum(r) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    downside = math.sqrt(0.05**2 / 3)
    assert s["total_return"] == pytest.approx(final - 1)
    assert s["cagr"] == pytest.approx(final ** (252 / 3) - 1)
    assert s["volatility"] == pytest.approx(std * SQRT252)
    assert s["sharpe"] == pytest.approx(mean / std * SQRT252)
    assert s["sortino"] == pytest.approx(mean / downside * SQRT252)
    # peak 1.1 after day 1, then 1.1 * 0.95 = 1.045: 5% below it
    assert s["max_drawdown"] == pytest.approx(-0.05)
    assert s["calmar"] == pytest.approx((final ** 84 - 1) / 0.05)
    assert s["hit_rate"] == pytest.approx(2 / 3)
    assert s["n_days"] == 3.0
    assert set(s) == {"total_return", "cagr", "volatility", "sharpe", "sortino",
                      "max_drawdown", "calmar", "hit_rate", "n_days"}
    assert all(isinstance(v, float) for v in s.values())


def test_summary_sorts_dates_before_compounding() -> None:
    r = _series([0.1, -0.05, 0.02])
    assert performance_summary(r.iloc[::-1]) == performance_summary(r)


def test_flat_series_has_nan_ratios_not_inf() -> None:
    s = performance_summary(_series([0.001] * 10))
    assert s["volatility"] == 0.0
    assert math.isnan(s["sharpe"])
    assert math.isnan(s["sortino"])  # no losing day
    assert s["max_drawdown"] == 0.0
    assert math.isnan(s["calmar"])
    assert s["hit_rate"] == 1.0
    zero = performance_summary(_series([0.0, 0.0]))
    assert math.isnan(zero["hit_rate"]) and math.isnan(zero["sharpe"])
    assert zero["total_return"] == 0.0 and zero["cagr"] == 0.0


def test_single_day_is_defined_where_possible() -> None:
    s = performance_summary(_series([-0.02]))
    assert s["total_return"] == pytest.approx(-0.02)
    assert s["cagr"] == pytest.approx(0.98**252 - 1)
    assert math.isnan(s["volatility"]) and math.isnan(s["sharpe"])
    assert s["sortino"] == pytest.approx(-SQRT252)  # mean / |mean|
    assert s["max_drawdown"] == pytest.approx(-0.02)  # below the starting equity
    assert s["hit_rate"] == 0.0 and s["n_days"] == 1.0


def test_total_loss_is_allowed_and_ends_the_curve() -> None:
    s = performance_summary(_series([0.1, -1.0, 0.5]))
    assert s["total_return"] == -1.0 and s["cagr"] == -1.0
    assert s["max_drawdown"] == -1.0 and s["calmar"] == -1.0


def test_hit_rate_ignores_zero_days() -> None:
    s = performance_summary(_series([0.01, 0.0, -0.01, 0.0, 0.02]))
    assert s["hit_rate"] == pytest.approx(2 / 3)


def test_periods_per_year_changes_annualisation() -> None:
    r = _series([0.01, -0.02, 0.03, 0.0])
    daily, monthly = performance_summary(r), performance_summary(r, periods_per_year=12)
    assert monthly["sharpe"] == pytest.approx(daily["sharpe"] * math.sqrt(12 / 252))
    assert monthly["total_return"] == daily["total_return"]


def test_cost_drag_and_turnover() -> None:
    net = _series([0.010, -0.004, 0.002, 0.0])
    gross = net + pd.Series([0.001, 0.002, 0.0, 0.001], index=net.index)
    to = pd.Series([0.5, 0.1, 0.0, 0.2], index=net.index)
    s = performance_summary(net, gross_returns=gross.iloc[::-1], turnover=to)
    assert s["cost_drag"] == pytest.approx(0.001 * 252)  # mean daily cost 0.004 / 4
    assert s["turnover"] == pytest.approx(0.2)
    assert s["turnover_annual"] == pytest.approx(0.2 * 252)


def test_avg_holding_days_counts_spells() -> None:
    idx = pd.bdate_range("2024-01-01", periods=6)
    w = pd.DataFrame(
        {
            # spells of 2 and 1 days
            "A": [0.5, 0.5, 0.0, 0.5, np.nan, np.nan],
            # one spell of 6 days, still open at the end
            "B": [0.2, 0.3, 0.4, 0.4, 0.4, 0.1],
            # never held
            "C": [0.0] * 6,
            # long 2 days then short 1 day without a day out: two spells; open at the end
            "D": [np.nan, np.nan, np.nan, 0.1, 0.1, -0.1],
        },
        index=idx,
    )
    s = performance_summary(_series([0.0] * 6), weights=w.iloc[::-1])
    # spells: A 2, A 1, B 6, D 2, D 1 -> 12 days / 5 spells
    assert s["avg_holding_days"] == pytest.approx(12 / 5)
    empty = performance_summary(_series([0.0] * 6), weights=w[["C"]])
    assert math.isnan(empty["avg_holding_days"])


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        (pd.Series([], dtype=float), {}, "empty"),
        (_series([0.01, np.nan, 0.02]), {}, r"NaN on \['2024-01-02"),
        (_series([0.01, np.inf]), {}, "infinite values on"),
        (_series([0.01, -1.5]), {}, r"below -100%.*'2024-01-02 00:00:00': -1.5"),
        (pd.Series([0.1, 0.2], index=["d", "d"]), {}, r"duplicated dates \['d'\]"),
        (_series([0.01, 0.02]), {"periods_per_year": 0}, "periods_per_year must be a positive"),
        (_series([0.01, 0.02]), {"gross_returns": _series([0.01])},
         r"gross_returns must cover exactly.*missing \['2024-01-02"),
        (_series([0.01, 0.02]), {"gross_returns": _series([0.01, 0.02, 0.0])},
         r"extra \['2024-01-03"),
        (_series([0.01, 0.02]), {"turnover": _series([0.1, np.nan])}, "turnover has NaN on"),
        (_series([0.01, 0.02]), {"turnover": _series([0.1, -0.2])},
         r"turnover must be >= 0; negative on \['2024-01-02"),
    ],
)
def test_summary_errors(values: pd.Series, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        performance_summary(values, **kwargs)


def test_summary_rejects_non_series() -> None:
    with pytest.raises(TypeError, match="must be a date-indexed pandas Series, got list"):
        performance_summary([0.1, 0.2])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- #
# equity curve and drawdown
# --------------------------------------------------------------------------- #


def test_known_drawdown_path() -> None:
    r = _series([0.10, -0.10, -0.10, 0.25, 0.05])
    eq = equity_curve(r)
    expected_eq = [1.1, 0.99, 0.891, 1.11375, 1.1694375]
    assert eq.tolist() == pytest.approx(expected_eq)
    assert eq.name == "equity" and eq.index.equals(r.index)
    dd = drawdown(r)
    assert dd.tolist() == pytest.approx([0.0, -0.1, -0.19, 0.0, 0.0])
    assert dd.index.equals(r.index)
    assert performance_summary(r)["max_drawdown"] == pytest.approx(-0.19)
    assert equity_curve(r, start=100.0).iloc[-1] == pytest.approx(116.94375)


def test_drawdown_counts_from_starting_equity() -> None:
    dd = drawdown(_series([-0.2, 0.1, 0.2]))
    assert dd.tolist() == pytest.approx([-0.2, -0.12, 0.0])  # 0.88 then 1.056 > 1


def test_equity_curve_rejects_bad_start() -> None:
    with pytest.raises(ValueError, match="start must be finite and > 0, got 0.0"):
        equity_curve(_series([0.1]), start=0.0)


# --------------------------------------------------------------------------- #
# regime breakdown
# --------------------------------------------------------------------------- #


def test_regime_breakdown_hand_made_six_days() -> None:
    r = _series([0.02, -0.01, 0.03, -0.02, 0.01, 0.005])
    regimes = pd.Series(
        ["risk_off", "risk_on", "risk_off", "risk_on", "risk_on"], index=r.index[:5]
    )  # the sixth date has no regime
    regimes.iloc[3] = None  # nor has the fourth
    ic = pd.Series([0.1, 0.3, np.nan, 0.2], index=r.index[[0, 1, 2, 4]])
    out = regime_breakdown(r, regimes, ic)
    assert out.index.name == "regime"
    assert out.index.tolist() == ["risk_on", "risk_off", "unknown"]
    assert out.columns.tolist() == [
        "days", "total_return", "mean_return", "ann_return", "sharpe", "win_rate", "mean_ic"]
    assert out["days"].tolist() == [2, 2, 2] and out["days"].dtype == np.int64

    on = out.loc["risk_on"]  # days 2 and 5: -0.01, 0.01
    assert on["total_return"] == pytest.approx(0.99 * 1.01 - 1)
    assert on["mean_return"] == pytest.approx(0.0) and on["ann_return"] == pytest.approx(0.0)
    assert on["sharpe"] == pytest.approx(0.0, abs=1e-12)
    assert on["win_rate"] == 0.5
    assert on["mean_ic"] == pytest.approx((0.3 + 0.2) / 2)

    off = out.loc["risk_off"]  # days 1 and 3: 0.02, 0.03
    assert off["total_return"] == pytest.approx(1.02 * 1.03 - 1)
    assert off["ann_return"] == pytest.approx(0.025 * 252)
    assert off["sharpe"] == pytest.approx(0.025 / np.std([0.02, 0.03], ddof=1) * SQRT252)
    assert off["win_rate"] == 1.0
    assert off["mean_ic"] == pytest.approx(0.1)  # day 3 has no IC

    unknown = out.loc["unknown"]  # days 4 and 6: -0.02, 0.005; no IC on either
    assert unknown["total_return"] == pytest.approx(0.98 * 1.005 - 1)
    assert unknown["win_rate"] == 0.5
    assert math.isnan(unknown["mean_ic"])


def test_regime_breakdown_row_order_and_no_ic_column() -> None:
    r = _series([0.01] * 5)
    regimes = pd.Series(["zeta", "risk_off", "neutral", "alpha", "risk_on"], index=r.index)
    out = regime_breakdown(r, regimes)
    assert out.index.tolist() == ["risk_on", "neutral", "risk_off", "alpha", "zeta"]
    assert "mean_ic" not in out.columns
    assert out["sharpe"].isna().all()  # one day each


def test_regime_breakdown_errors() -> None:
    r = _series([0.01, 0.02])
    with pytest.raises(ValueError, match="regimes has duplicated dates"):
        regime_breakdown(r, pd.Series(["risk_on", "neutral"], index=[r.index[0]] * 2))
    with pytest.raises(ValueError, match="ic has infinite values on"):
        regime_breakdown(r, pd.Series("risk_on", index=r.index), pd.Series(np.inf, index=r.index))
    with pytest.raises(ValueError, match="net_returns has NaN"):
        regime_breakdown(_series([np.nan]), pd.Series(dtype=object))
