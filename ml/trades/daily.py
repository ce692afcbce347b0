"""One trading day, from predictions to gated trades: the step the daily run and the backtest share.

Three functions, one per stage, each called by its Dagster asset in the daily run and, in the
same order, by :func:`ml.backtest.run_backtest` for every date of the history:

* :func:`ml.signals.make_signals` (``ml/signals/daily.py``) -- the date's predictions and regime
  -> rows of ``trading.signals``;
* :func:`ml.portfolio.make_weights` (``ml/portfolio/daily.py``) -- signals, the current book and
  trailing returns -> target weights (:class:`ml.portfolio.PortfolioResult`);
* :func:`make_trades` (this module) -- target weights, the book, prices and the kill switch's state
  -> whole-share orders, every safety rule, the kill switch's new state (:mod:`ml.trades.switch`),
  the gate (all approved or all blocked, with the reasons; while the switch is halted in "derisk"
  mode the sells approved and the buys blocked) and the book after the approved orders (paper).

Because both paths call these functions with the same inputs, the daily run and the backtest
give the same weights for the same date and book (a test holds them to it).

Point-in-time: the caller passes only what is known at the close of the decision date --
returns up to that date, the regime filtered up to it, and for the kill switch only book
returns whose period has ended by then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.portfolio import PortfolioResult
from ml.trades.book import Book, apply_trades
from ml.trades.orders import plan_trades, summarize_trades
from ml.trades.safety import (
    CheckResult,
    check_portfolio,
    check_trades,
)
from ml.trades.spec import TradingSpec
from ml.trades.switch import KillSwitchState, gate, step, tradable


@dataclass(frozen=True)
class TradeDecision:
    """The outcome of :func:`make_trades` for one date."""

    trades: pd.DataFrame          # ORDER_COLUMNS + status, reason
    checks: list[CheckResult]
    book_before: Book
    book_after: Book
    value: float                  # book value before the trades, at the given prices
    costs: float                  # commission + slippage of the approved trades
    turnover: float               # one-way turnover of the approved trades
    approved: bool
    notes: tuple[str, ...] = ()
    kill_switch: KillSwitchState = KillSwitchState()  # the switch after this date (carry it to the next)


def portfolio_check(portfolio: PortfolioResult) -> CheckResult:
    """The ``portfolio_valid`` rule: the portfolio step's own verdict (e.g. too few names)."""
    return CheckResult("portfolio_valid", portfolio.valid,
                       "; ".join(portfolio.reasons) if portfolio.reasons else
                       f"{len(portfolio.weights)} names, exposure {portfolio.exposure:.2f}")


def make_trades(weights: pd.Series, portfolio_ok: CheckResult, book: Book, prices: pd.Series,
                adv_shares: pd.Series, book_returns: pd.Series, sectors: pd.Series, spec: TradingSpec,
                mode: str = "paper", kill_switch: KillSwitchState | None = None) -> TradeDecision:
    """Orders from ``book`` to target ``weights``, every safety rule, the gate and the book after.

    Parameters
    ----------
    weights : Series
        ticker -> target weight (``PortfolioResult.weights``).
    portfolio_ok : CheckResult
        :func:`portfolio_check` of the portfolio step, carried into the gate.
    prices : Series
        ticker -> price the orders are sized and valued at (the daily run: the latest close;
        the backtest: the execution open). A held name without a price fails the
        ``prices_valid`` rule (nothing trades that day); a target without one is not bought
        (its weight stays in cash, noted).
    adv_shares : Series
        ticker -> 20-day average volume in shares; required (the liquidity rule must run).
    book_returns : Series
        Daily returns of the book known at decision time, for the kill switch.
    kill_switch : KillSwitchState, optional
        The kill switch after the previous decision date (default: armed, a new book); the new
        state is ``TradeDecision.kill_switch``. While it is halted the order limits judge only the
        orders it lets through (:func:`ml.trades.switch.tradable`).
    """
    if adv_shares is None:
        raise ValueError("adv_shares is required: the liquidity rule must be checked")
    notes: list[str] = []
    px = prices.astype(float)
    held = book.shares[book.shares != 0]
    unpriced_held = sorted(t for t in held.index if not px.get(t, np.nan) > 0)
    target = weights
    unpriced_target = sorted(t for t in weights.index if t not in held.index and not px.get(t, np.nan) > 0)
    if unpriced_target:
        target = weights.drop(unpriced_target)
        notes.append(f"not bought, no valid price: {unpriced_target}")

    value = book.cash + float((held.drop(unpriced_held) * px.reindex(held.index.drop(unpriced_held))).sum())
    checks = [portfolio_ok]
    checks += check_portfolio(weights, sectors, spec.portfolio.max_weight,
                              spec.portfolio.max_sector, spec.weight_tolerance)
    checks.append(CheckResult("prices_valid", not unpriced_held,
                              f"no valid price for held tickers {unpriced_held}" if unpriced_held
                              else "every held and targeted name has a price"))
    if unpriced_held:
        orders = plan_trades(pd.Series(dtype=float), pd.Series(dtype=float), px, max(value, 1.0),
                             book.cash).iloc[0:0]  # no orders, with the orders' column types
    else:
        orders = plan_trades(held, target, px, value, book.cash, adv_shares,
                             commission_bps=spec.commission_bps, slippage_bps=spec.slippage_bps,
                             min_trade_notional=spec.min_trade_notional,
                             max_adv_share=spec.max_adv_share, no_trade_band=spec.no_trade_band)
    switch, switch_checks = step(kill_switch or KillSwitchState(), book_returns, spec)
    checks += check_trades(tradable(orders, switch, spec.kill_switch_mode), value, spec.max_turnover,
                           spec.max_trade_share, spec.max_cost_share, spec.max_trades)
    checks += switch_checks
    gated = gate(orders, checks, switch, spec.kill_switch_mode)
    approved = gated[gated["status"] == "approved"]
    summary = summarize_trades(approved, value) if len(approved) else {"total_cost": 0.0, "turnover": 0.0}
    book_after = apply_trades(book, gated, mode)
    return TradeDecision(gated, checks, book, book_after, value, float(summary["total_cost"]),
                         float(summary["turnover"]), bool(all(c.passed for c in checks)), tuple(notes), switch)
