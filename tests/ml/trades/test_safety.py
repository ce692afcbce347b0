"""Tests for ml.trades.safety: every rule fires on a crafted input, a clean case passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.trades import (
    CheckResult,
    advance_positions,
    apply_gate,
    check_portfolio,
    check_trades,
    kill_switch,
)

SECTORS = pd.Series({"A": "Tech", "B": "Tech", "C": "Energy", "D": "Health"})


def _by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def _trades(notional: list[float], flags: list[object] | None = None) -> pd.DataFrame:
    n = len(notional)
    return pd.DataFrame({
        "ticker": list("ABCD")[:n],
        "side": ["SELL"] + ["BUY"] * (n - 1),
        "shares": [10] * n,
        "price": [x / 10 for x in notional],
        "notional": notional,
        "commission_est": [x * 1e-4 for x in notional],
        "slippage_est": [x * 5e-4 for x in notional],
        "liquidity_flag": pd.array(flags if flags is not None else [False] * n,
                                   dtype="boolean"),
    })


def test_clean_portfolio_passes() -> None:
    res = check_portfolio(pd.Series({"A": 0.1, "C": 0.1, "D": 0.1}), SECTORS)
    assert [r.name for r in res] == ["weights_valid", "max_weight", "max_sector"]
    assert all(r.passed for r in res)


def test_max_weight_fires_beyond_tolerance_only() -> None:
    assert _by_name(check_portfolio(pd.Series({"A": 0.109}), SECTORS))["max_weight"].passed
    res = _by_name(check_portfolio(pd.Series({"A": 0.12}), SECTORS))["max_weight"]
    assert not res.passed and "'A': 0.12" in res.detail


def test_max_sector_fires_and_missing_sector_fails() -> None:
    w = pd.Series({"A": 0.1, "B": 0.1, "C": 0.1})
    assert _by_name(check_portfolio(w, SECTORS, max_sector=0.15))["max_sector"].detail == (
        "over 15.00%: {'Tech': 0.2}")
    res = _by_name(check_portfolio(pd.Series({"Z": 0.05}), SECTORS))["max_sector"]
    assert not res.passed and res.detail == "no sector for ['Z']"


def test_weights_valid_fires_on_negative_nan_and_leverage() -> None:
    for w in ({"A": -0.1}, {"A": np.nan}, {"A": 0.1, "B": 0.1, "C": 0.9}):
        assert not _by_name(check_portfolio(pd.Series(w), SECTORS))["weights_valid"].passed


def test_clean_trades_pass() -> None:
    res = check_trades(_trades([5_000.0, 5_000.0]), 100_000.0)
    assert all(r.passed for r in res), res


def test_each_trade_rule_fires() -> None:
    v = 100_000.0
    assert not _by_name(check_trades(_trades([5_000.0] * 4), v, max_turnover=0.05))[
        "turnover"].passed  # 20_000 / 100_000 / 2 = 0.10
    big = _by_name(check_trades(_trades([5_000.0, 11_000.0]), v))["max_trade_share"]
    assert not big.passed and "['B']" in big.detail
    # cost 6 bps of 10_000 = 6 -> 6e-5 of the portfolio
    assert not _by_name(check_trades(_trades([5_000.0] * 2), v, max_cost_share=5e-5))[
        "max_cost_share"].passed
    assert not _by_name(check_trades(_trades([100.0] * 3), v, max_trades=2))[
        "max_trades"].passed
    liq = _by_name(check_trades(_trades([100.0, 100.0], [False, True]), v))["liquidity"]
    assert not liq.passed and "['B']" in liq.detail
    unchecked = _by_name(check_trades(_trades([100.0], [pd.NA]), v))["liquidity"]
    assert unchecked.passed and unchecked.detail.startswith("not checked")


def test_kill_switch_daily_loss_fires() -> None:
    res = _by_name(kill_switch(pd.Series([0.01, -0.031]), max_daily_loss=0.03))
    assert not res["daily_loss"].passed
    assert _by_name(kill_switch(pd.Series([0.01, -0.03])))["daily_loss"].passed


def test_kill_switch_sharpe_hand_case() -> None:
    # returns alternate 0.01 / -0.005 -> mean 0.0025, std (ddof=1) of 30 values
    r = pd.Series([0.01, -0.005] * 15)
    expected = 0.0025 / r.std(ddof=1) * np.sqrt(252)
    res = _by_name(kill_switch(r, min_sharpe=expected + 0.01))["trailing_sharpe"]
    assert not res.passed and f"{expected:.3f}" in res.detail
    assert _by_name(kill_switch(r, min_sharpe=expected - 0.01))["trailing_sharpe"].passed
    # only the last 30 days count: an old crash is forgotten
    longer = pd.concat([pd.Series([-0.5]), r], ignore_index=True)
    assert _by_name(kill_switch(longer, min_sharpe=expected - 0.01))["trailing_sharpe"].passed


def test_kill_switch_losing_and_flat_windows_fail() -> None:
    assert not _by_name(kill_switch(pd.Series([-0.001, 0.0005] * 15)))["trailing_sharpe"].passed
    assert not _by_name(kill_switch(pd.Series([0.0] * 30)))["trailing_sharpe"].passed


def test_kill_switch_short_history_is_not_applied_and_nan_raises() -> None:
    res = _by_name(kill_switch(pd.Series([-0.001] * 29)))
    assert res["trailing_sharpe"].passed
    assert res["trailing_sharpe"].detail == "not applied: 29 of 30 days of history"
    assert all(r.passed for r in kill_switch(pd.Series([], dtype=float)))
    with pytest.raises(ValueError, match=r"daily_returns has NaN on \['1'\]"):
        kill_switch(pd.Series([0.01, np.nan]))


def test_gate_blocks_every_trade_with_joined_reasons() -> None:
    results = [CheckResult("a", True, "fine"), CheckResult("b", False, "too big"),
               CheckResult("c", False, "too many")]
    out = apply_gate(_trades([100.0, 200.0]), results)
    assert out["status"].tolist() == ["blocked", "blocked"]
    assert set(out["reason"]) == {"b: too big; c: too many"}


def test_gate_approves_clean_and_refuses_no_results() -> None:
    out = apply_gate(_trades([100.0]), [CheckResult("a", True, "fine")])
    assert out[["status", "reason"]].values.tolist() == [["approved", "all 1 checks passed"]]
    with pytest.raises(ValueError, match="no check results"):
        apply_gate(_trades([100.0]), [])


def test_positions_advance_only_by_approved_trades() -> None:
    trades = pd.DataFrame({
        "ticker": ["A", "B", "C"], "side": ["SELL", "BUY", "BUY"], "shares": [10, 5, 7],
        "status": ["approved", "approved", "blocked"],
    })
    out = advance_positions(pd.Series({"A": 10, "D": 3}), trades)
    assert out.to_dict() == {"B": 5, "D": 3}
    blocked = trades.assign(status="blocked")
    assert advance_positions(pd.Series({"A": 10}), blocked).to_dict() == {"A": 10}


def test_advance_positions_errors() -> None:
    trades = pd.DataFrame({"ticker": ["A"], "side": ["SELL"], "shares": [11],
                           "status": ["approved"]})
    with pytest.raises(ValueError, match=r"approved sells exceed holdings: \{'A': -1"):
        advance_positions(pd.Series({"A": 10}), trades)
    with pytest.raises(NotImplementedError, match="mode 'live' is not supported.*brokerage"):
        advance_positions(pd.Series({"A": 10}), trades, mode="live")
    with pytest.raises(ValueError, match="run apply_gate first"):
        advance_positions(pd.Series({"A": 10}), trades.drop(columns="status"))
