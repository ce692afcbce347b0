"""Tests for ml.trades.daily: the daily step's defined behaviour on bad input, the gate, the book."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.portfolio import PortfolioSpec, make_weights
from ml.signals import make_signals
from ml.trades import Book, CheckResult, TradingSpec, apply_trades, make_trades

DAY = pd.Timestamp("2021-03-01")
TICKERS = [f"T{i:02d}" for i in range(12)]
SECTORS = pd.Series({t: f"S{i % 4}" for i, t in enumerate(TICKERS)})
SPEC = TradingSpec(top_pct=0.5, portfolio=PortfolioSpec(top_n=6, min_names=4, max_weight=0.2, max_sector=0.5,
                                                        min_history=5, cov_window=20),
                   capital=100_000.0, sharpe_window_days=1000)
OK = CheckResult("portfolio_valid", True, "ok")


def _preds(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"date": DAY, "ticker": TICKERS[:len(values)], "yhat": values})


def _returns() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(0, 0.01, (20, len(TICKERS))), columns=TICKERS,
                        index=pd.bdate_range(end=DAY, periods=20))


PRICES = pd.Series(50.0, index=TICKERS)
ADV = pd.Series(1e7, index=TICKERS)


def test_nan_predictions_are_never_bought() -> None:
    values = [np.nan, np.nan] + [0.01 * i for i in range(10)]
    signals = make_signals(_preds(values), pd.Series({DAY: "risk_on"}), SPEC)
    assert signals.loc[signals["ticker"].isin(TICKERS[:2]), "score"].isna().all()
    result = make_weights(signals, Book.empty(1e5), _returns(), SECTORS, "risk_on", SPEC)
    assert not set(result.weights.index) & set(TICKERS[:2])
    assert len(result.weights) == 5  # top 50% of the 10 scored names


def test_empty_universe_and_missing_regime_are_errors_naming_the_date() -> None:
    with pytest.raises(ValueError, match="no predictions"):
        make_signals(_preds([]), pd.Series({DAY: "risk_on"}), SPEC)
    with pytest.raises(ValueError, match=r"no regime for \['2021-03-01'\]"):
        make_signals(_preds([0.1, 0.2]), pd.Series({DAY - pd.Timedelta(days=1): "risk_on"}), SPEC)


def test_a_day_without_confidence_values_is_scored_on_yhat_alone() -> None:
    preds = _preds([0.3, 0.1, 0.2]).assign(yhat_std=np.nan, prob_up=np.nan)
    signals = make_signals(preds, pd.Series({DAY: "risk_on"}), SPEC)
    assert signals["score"].tolist() == pytest.approx([0.3, 0.1, 0.2])


def test_missing_price_for_a_held_name_blocks_every_trade_and_keeps_the_book() -> None:
    book = Book(pd.Series({"T00": 100, "T01": 50}, dtype=np.int64), 10_000.0)
    weights = pd.Series({"T02": 0.2, "T03": 0.2})
    decision = make_trades(weights, OK, book, PRICES.drop("T01"), ADV, pd.Series(dtype=float), SECTORS, SPEC)
    rule = {c.name: c for c in decision.checks}["prices_valid"]
    assert not rule.passed and "T01" in rule.detail
    assert not decision.approved and decision.trades.empty
    assert decision.book_after.shares.equals(book.shares) and decision.book_after.cash == book.cash


def test_a_target_without_price_is_not_bought_and_noted() -> None:
    weights = pd.Series({"T02": 0.2, "T03": 0.2})
    decision = make_trades(weights, OK, Book.empty(1e5), PRICES.drop("T03"), ADV, pd.Series(dtype=float),
                           SECTORS, SPEC)
    assert decision.trades["ticker"].tolist() == ["T02"]
    assert any("T03" in n for n in decision.notes)


def test_kill_switch_in_freeze_mode_blocks_all_trades_with_the_reason() -> None:
    weights = pd.Series({"T02": 0.1})
    spec = TradingSpec(**{**SPEC.__dict__, "kill_switch_mode": "freeze"})
    decision = make_trades(weights, OK, Book.empty(1e5), PRICES, ADV, pd.Series([0.01, -0.05]), SECTORS, spec)
    assert not decision.approved and decision.kill_switch.halted
    assert set(decision.trades["status"]) == {"blocked"}
    assert decision.trades["reason"].iloc[0].startswith("daily_loss: last return -0.0500")
    assert decision.book_after.cash == 1e5 and decision.book_after.shares.empty


def test_a_halted_book_trims_and_makes_forced_exits_keeps_the_proceeds_in_cash_and_buys_nothing() -> None:
    # book 100,000: T00 and T01 5,000 each (price 50). Target: T00 2% (sell 60), T01 out (sell 100),
    # T02 10% (buy 200). The orders' turnover (18,000 / 2) is over max_turnover 5%, the sells' (8,000 / 2)
    # within it: the limits judge what the switch lets through.
    book = Book(pd.Series({"T00": 100, "T01": 100}, dtype=np.int64), 90_000.0)
    spec = TradingSpec(**{**SPEC.__dict__, "max_turnover": 0.05})
    target = pd.Series({"T00": 0.02, "T02": 0.1})
    # T01 still has a score: its exit is the other leg of a swap into T02, blocked with the buy
    swap = make_trades(target, OK, book, PRICES, ADV, pd.Series([0.01, -0.05]), SECTORS, spec)
    assert swap.kill_switch.halted and swap.kill_switch.event == "fired" and not swap.approved
    gated = swap.trades.set_index("ticker")
    assert gated[["side", "shares", "status"]].values.tolist() == [["SELL", 60, "approved"], ["SELL", 100, "blocked"],
                                                                  ["BUY", 200, "blocked"]]
    assert gated.loc["T02", "reason"].startswith("no new risk while halted (buys, and the exits of names swapped "
                                                 "out): daily_loss: last return -0.0500")
    assert swap.book_after.shares.to_dict() == {"T00": 40, "T01": 100}
    assert swap.book_after.cash == pytest.approx(90_000 + 3_000 - 3_000 * 6e-4)
    # T01 has no score today: a forced exit, let through like the trim
    decision = make_trades(target, OK, book, PRICES, ADV, pd.Series([0.01, -0.05]), SECTORS, spec,
                           scored=["T00", "T02"])
    gated = decision.trades.set_index("ticker")
    assert gated["status"].tolist() == ["approved", "approved", "blocked"]
    assert decision.book_after.shares.to_dict() == {"T00": 40}
    assert decision.book_after.cash == pytest.approx(90_000 + 8_000 - 8_000 * 6e-4)
    assert decision.costs == pytest.approx(4.8) and decision.turnover == pytest.approx(0.04)
    # the next day, still halted (cooldown), from the state carried over
    later = make_trades(target, OK, decision.book_after, PRICES, ADV,
                        pd.Series([0.01, -0.05, 0.02]), SECTORS, spec, kill_switch=decision.kill_switch)
    assert later.kill_switch.halt_days == 2
    assert later.trades[["ticker", "status"]].values.tolist() == [["T02", "blocked"]]


def test_invalid_portfolio_blocks_trades() -> None:
    bad = CheckResult("portfolio_valid", False, "3 names < min_names 4")
    decision = make_trades(pd.Series({"T02": 0.2}), bad, Book.empty(1e5), PRICES, ADV,
                           pd.Series(dtype=float), SECTORS, SPEC)
    assert set(decision.trades["status"]) == {"blocked"}
    assert "min_names" in decision.trades["reason"].iloc[0]


def test_approved_trades_move_shares_and_cash_by_notional_and_costs() -> None:
    # book 85,000: buy floor(0.2 * 85,000 / 50) = 340 T02 (17,000), sell 100 T00 (5,000);
    # costs 1 + 5 bps of 22,000 = 13.20
    book = Book(pd.Series({"T00": 100}, dtype=np.int64), 80_000.0)
    decision = make_trades(pd.Series({"T02": 0.2}), OK, book, PRICES, ADV, pd.Series(dtype=float), SECTORS,
                           TradingSpec(**{**SPEC.__dict__, "no_trade_band": 0.0, "max_trade_share": 0.25}))
    assert decision.approved
    assert decision.trades[["ticker", "side", "shares"]].values.tolist() == [["T00", "SELL", 100],
                                                                          ["T02", "BUY", 340]]
    assert decision.book_after.shares.to_dict() == {"T02": 340}
    assert decision.book_after.cash == pytest.approx(80_000 + 5_000 - 17_000 - 13.2)
    assert decision.costs == pytest.approx(13.2)
    same = apply_trades(book, decision.trades)
    assert same.cash == decision.book_after.cash


def test_book_value_names_an_unpriced_holding() -> None:
    with pytest.raises(ValueError, match=r"no valid price for held tickers \['T01'\]"):
        Book(pd.Series({"T01": 5}), 0.0).holdings_value(PRICES.drop("T01"))
