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
  mode the de-risking sells approved and the rest blocked) and the book after the approved orders
  (paper).

:func:`make_trades` converts its Series to arrays and calls :func:`ml.trades.arrays.trade_day`,
the kernel the backtest calls directly on its panels (the same for ``make_weights`` and
:func:`ml.portfolio.arrays.day_weights`). Because both paths run the same kernels on the same inputs, the daily run and the backtest
give the same weights for the same date and book (a test holds them to it).

Point-in-time: the caller passes only what is known at the close of the decision date --
returns up to that date, the regime filtered up to it, and for the kill switch only book
returns whose period has ended by then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.portfolio import PortfolioResult
from ml.trades.arrays import trade_day
from ml.trades.book import Book
from ml.trades.orders import orders_frame
from ml.trades.safety import CheckResult, advance_positions
from ml.trades.spec import TradingSpec
from ml.trades.switch import KillSwitchState


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
                mode: str = "paper", kill_switch: KillSwitchState | None = None,
                scored: Iterable[str] | None = None) -> TradeDecision:
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
        orders it lets through (:func:`ml.trades.switch.let_through`).
    scored : iterable of str, optional
        The names with a score (a prediction) on the date: a held name without one is a forced
        exit, which a halted switch lets through. Default: every name has one.
    """
    if adv_shares is None:
        raise ValueError("adv_shares is required: the liquidity rule must be checked")
    if mode != "paper":
        advance_positions(book.shares, pd.DataFrame(columns=["ticker", "side", "shares", "status"]), mode=mode)
    held = book.shares[book.shares != 0]
    universe = sorted(set(held.index) | set(weights.index))
    px = prices.astype(float)
    px = px[~px.index.duplicated()] if not px.index.is_unique else px
    targeted = np.isin(np.asarray(universe, dtype=object), weights.index.to_numpy(dtype=object))
    codes, labels = pd.factorize(sectors.dropna().reindex(universe), sort=True)
    day = trade_day(held.reindex(universe, fill_value=0).to_numpy(dtype=np.int64), float(book.cash),
                    weights.astype(float).reindex(universe, fill_value=0.0).to_numpy(), targeted,
                    px.reindex(universe).to_numpy(dtype=float), adv_shares.astype(float).reindex(universe).to_numpy(),
                    codes, list(labels), universe, portfolio_ok, book_returns, spec,
                    kill_switch or KillSwitchState(),
                    np.ones(len(universe), dtype=bool) if scored is None
                    else np.isin(np.asarray(universe, dtype=object), np.asarray(list(scored), dtype=object)))
    gated = orders_frame(day.orders, universe).assign(status=day.status, reason=day.reason)
    after = day.shares_after != 0
    book_after = Book(pd.Series(day.shares_after[after], index=pd.Index(np.asarray(universe, dtype=object)[after]),
                                dtype=np.int64), day.cash_after)
    return TradeDecision(gated, day.checks, book, book_after, day.value, day.costs, day.turnover, day.approved,
                         day.notes, day.kill_switch)
