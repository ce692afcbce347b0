"""Tests for ml.trades on hand-computed tiny cases."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.trades import ORDER_COLUMNS, plan_trades, summarize_trades


def _s(**kw: float) -> pd.Series:
    return pd.Series(kw, dtype=float)


def test_costs_rounding_and_weight_change() -> None:
    # 0.5 * 10_000 / 33 = 151.5 -> 151 shares (floor), notional 4983
    orders = plan_trades(_s(), _s(A=0.5), _s(A=33.0), 10_000.0, 10_000.0,
                         commission_bps=1.0, slippage_bps=5.0, min_trade_notional=0.0)
    assert list(orders.columns) == ORDER_COLUMNS
    row = orders.iloc[0]
    assert (row["ticker"], row["side"], row["shares"]) == ("A", "BUY", 151)
    assert row["notional"] == pytest.approx(4983.0)
    assert row["commission_est"] == pytest.approx(0.4983)
    assert row["slippage_est"] == pytest.approx(2.4915)
    assert row["weight_change"] == pytest.approx(0.4983)
    assert orders["shares"].dtype == "int64"


def test_orders_below_minimum_are_dropped_but_exits_always_trade() -> None:
    # A: 100 -> 102 shares at 10 = 20 notional (dropped); B: held, absent -> exit 5 * 10 = 50
    orders = plan_trades(_s(A=100, B=5), _s(A=0.102), _s(A=10.0, B=10.0), 10_000.0, 0.0,
                         min_trade_notional=100.0)
    assert orders[["ticker", "side", "shares"]].values.tolist() == [["B", "SELL", 5]]


def test_sells_come_before_buys() -> None:
    orders = plan_trades(_s(A=10, C=10), _s(B=0.3, D=0.3), _s(A=50.0, B=20.0, C=50.0, D=20.0),
                         1_000.0, 1_000.0, min_trade_notional=0.0)
    assert orders[["ticker", "side", "shares"]].values.tolist() == [
        ["A", "SELL", 10], ["C", "SELL", 10], ["B", "BUY", 15], ["D", "BUY", 15]]


def test_buys_are_scaled_down_to_the_cash_available() -> None:
    # want 50 A at 10 (500) + 50 B at 10 (500); no costs; only 300 cash + nothing to sell
    orders = plan_trades(_s(), _s(A=0.5, B=0.5), _s(A=10.0, B=10.0), 1_000.0, 300.0,
                         commission_bps=0.0, slippage_bps=0.0, min_trade_notional=0.0)
    assert orders["shares"].tolist() == [15, 15]
    # with costs (6 bps) 300 / (1000 * 1.0006) = 0.2998 -> floor(14.99) = 14 each
    with_costs = plan_trades(_s(), _s(A=0.5, B=0.5), _s(A=10.0, B=10.0), 1_000.0, 300.0,
                             min_trade_notional=0.0)
    assert with_costs["shares"].tolist() == [14, 14]
    spent = (with_costs["notional"] + with_costs["commission_est"]
             + with_costs["slippage_est"]).sum()
    assert spent <= 300.0


def test_sell_proceeds_fund_buys() -> None:
    orders = plan_trades(_s(A=10), _s(B=0.5), _s(A=50.0, B=20.0), 1_000.0, 0.0,
                         commission_bps=0.0, slippage_bps=0.0, min_trade_notional=0.0)
    assert orders[["ticker", "side", "shares"]].values.tolist() == [
        ["A", "SELL", 10], ["B", "BUY", 25]]


def test_liquidity_flag() -> None:
    # 5% of ADV 1000 = 50 shares: 40 ok, 60 flagged, C has no ADV -> flagged
    orders = plan_trades(_s(), _s(A=0.4, B=0.6, C=0.0001), _s(A=10.0, B=10.0, C=1.0),
                         1_000.0, 10_000.0, adv20_shares=_s(A=1000, B=1000),
                         commission_bps=0.0, slippage_bps=0.0, min_trade_notional=0.0)
    assert orders["liquidity_flag"].tolist() == [False, True]
    orders = plan_trades(_s(), _s(C=0.5), _s(C=1.0), 1_000.0, 1_000.0,
                         adv20_shares=_s(A=1000), min_trade_notional=0.0)
    assert orders["liquidity_flag"].tolist() == [True]
    unchecked = plan_trades(_s(), _s(A=0.4), _s(A=10.0), 1_000.0, 1_000.0)
    assert unchecked["liquidity_flag"].isna().all()


def test_held_name_without_price_raises_naming_it() -> None:
    with pytest.raises(ValueError, match=r"missing or non-positive price.*'B': None"):
        plan_trades(_s(A=1, B=5), _s(A=0.1), _s(A=10.0), 1_000.0, 0.0)
    with pytest.raises(ValueError, match=r"non-positive price.*'A': 0.0"):
        plan_trades(_s(), _s(A=0.1), _s(A=0.0), 1_000.0, 0.0)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match=r"target_weights must be >= 0.*'A': -0.1"):
        plan_trades(_s(), _s(A=-0.1), _s(A=1.0), 1_000.0, 0.0)
    with pytest.raises(ValueError, match=r"cash must be finite and >= 0, got -1.0"):
        plan_trades(_s(), _s(A=0.1), _s(A=1.0), 1_000.0, -1.0)
    with pytest.raises(ValueError, match=r"portfolio_value must be finite and > 0, got 0.0"):
        plan_trades(_s(), _s(A=0.1), _s(A=1.0), 0.0, 0.0)


def test_no_trades_gives_empty_frame_with_columns() -> None:
    orders = plan_trades(_s(A=10), _s(A=0.1), _s(A=10.0), 1_000.0, 0.0)
    assert orders.empty and list(orders.columns) == ORDER_COLUMNS


def test_summary_turnover_is_one_way() -> None:
    orders = plan_trades(_s(A=10), _s(B=0.5), _s(A=50.0, B=20.0), 1_000.0, 0.0,
                         min_trade_notional=0.0)
    summary = summarize_trades(orders, 1_000.0)
    # sell 500 and buy 24 * 20 = 480 (costs leave 499.7, 25 shares would need 500.3)
    assert summary["n_sells"] == 1 and summary["n_buys"] == 1
    assert summary["turnover"] == pytest.approx((500.0 + 480.0) / 1_000.0 / 2)
    assert summary["total_cost"] == pytest.approx(980.0 * 6e-4)


def test_no_trade_band_leaves_drifted_holdings_alone() -> None:
    # A: held at 0.40 of a 1000 book, target 0.42 -> inside a 0.05 band, no order.
    # B: new name -> always trades; C: exit -> always trades.
    held = pd.Series({"A": 4, "C": 2})
    prices = pd.Series({"A": 100.0, "B": 10.0, "C": 50.0})
    orders = plan_trades(held, pd.Series({"A": 0.42, "B": 0.2}), prices, 1_000.0, 500.0,
                         min_trade_notional=0.0, no_trade_band=0.05)
    assert orders[["ticker", "side", "shares"]].values.tolist() == [["C", "SELL", 2], ["B", "BUY", 20]]
    # without the band A is topped up by 0 whole shares here (0.42*1000/100 = 4.2 -> 4): add a case that moves
    orders = plan_trades(held, pd.Series({"A": 0.6}), prices, 1_000.0, 500.0,
                         min_trade_notional=0.0, no_trade_band=0.05)
    assert orders[["ticker", "side", "shares"]].values.tolist() == [["C", "SELL", 2], ["A", "BUY", 2]]


def test_no_trade_band_must_be_non_negative() -> None:
    with pytest.raises(ValueError, match="no_trade_band"):
        plan_trades(pd.Series({"A": 1}), pd.Series({"A": 0.1}), pd.Series({"A": 1.0}), 100.0, 0.0,
                    no_trade_band=-0.1)
