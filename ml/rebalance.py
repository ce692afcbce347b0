"""One trading day, from predictions to gated trades: the step the daily run and the backtest share.

Three functions, one per stage, each called by its Dagster asset in the daily run and, in the
same order, by :func:`ml.backtest.run_backtest` for every date of the history:

* :func:`make_signals` -- the date's predictions and regime -> rows of ``trading.signals``;
* :func:`make_weights` -- signals, the current book and trailing returns -> target weights
  (:class:`ml.portfolio.PortfolioResult`);
* :func:`make_trades` -- target weights, the book and prices -> whole-share orders, every safety
  rule, the gate (all approved or all blocked, with the reasons) and the book after the approved
  orders (paper).

Because both paths call these functions with the same inputs, the daily run and the backtest
give the same weights for the same date and book (a test holds them to it).

Point-in-time: the caller passes only what is known at the close of the decision date --
returns up to that date, the regime filtered up to it, and for the kill switch only book
returns whose period has ended by then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.portfolio import PortfolioResult, PortfolioSpec, target_weights
from ml.safety import CheckResult, advance_positions, apply_gate, check_portfolio, check_trades, kill_switch
from ml.signals import signals_table
from ml.trades import plan_trades, summarize_trades

__all__ = ["Book", "TradeDecision", "TradingSpec", "apply_trades", "make_signals", "make_trades",
           "make_weights", "portfolio_check"]


@dataclass(frozen=True)
class TradingSpec:
    """Every setting of the daily trading step, with the defaults the daily run and backtest use.

    Signals: ``signal_method`` / ``top_pct`` / ``threshold`` (see
    :func:`ml.signals.predictions_to_signals`); a name is eligible to be bought when its signal
    is > 0. Portfolio: :class:`ml.portfolio.PortfolioSpec`. Trades: costs in basis points of
    notional, the smallest order, the ADV share before an order is flagged and the no-trade band
    (see :func:`ml.trades.plan_trades`). Safety: the limits of :func:`ml.safety.check_trades`
    and the kill switch of :func:`ml.safety.kill_switch`.
    """

    signal_method: str = "rank"
    top_pct: float = 0.2
    threshold: float = 0.0
    portfolio: PortfolioSpec = field(default_factory=PortfolioSpec)
    capital: float = 1_000_000.0
    commission_bps: float = 1.0
    slippage_bps: float = 5.0
    min_trade_notional: float = 100.0
    max_adv_share: float = 0.05
    no_trade_band: float = 0.005
    max_turnover: float = 0.5
    max_trade_share: float = 0.10
    max_cost_share: float = 0.005
    max_trades: int = 100
    max_daily_loss: float = 0.03
    sharpe_window_days: int = 30
    min_sharpe: float = 0.5
    weight_tolerance: float = 0.01

    def __post_init__(self) -> None:
        if not (math.isfinite(self.capital) and self.capital > 0):
            raise ValueError(f"capital must be finite and > 0, got {self.capital!r}")
        if self.max_trades < 0:
            raise ValueError(f"max_trades must be >= 0, got {self.max_trades!r}")


@dataclass(frozen=True)
class Book:
    """A long-only paper book: whole shares per ticker and cash."""

    shares: pd.Series
    cash: float

    @classmethod
    def empty(cls, cash: float) -> Book:
        return cls(pd.Series(dtype=np.int64), float(cash))

    def holdings_value(self, prices: pd.Series) -> float:
        """Market value of the shares; a held name without a price raises, naming it."""
        px = prices.reindex(self.shares.index).astype(float)
        missing = sorted(px.index[~(px > 0)])
        if missing:
            raise ValueError(f"no valid price for held tickers {missing}")
        return float((self.shares * px).sum())


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


def make_signals(preds: pd.DataFrame, regimes: pd.Series, spec: TradingSpec) -> pd.DataFrame:
    """Rows of ``trading.signals`` (see :func:`ml.signals.signals_table`) for one or many dates.

    ``preds`` holds date, ticker, yhat and optionally yhat_std, prob_up; ``regimes`` maps every
    date to its regime label (a date without one is an error: the score and the exposure both
    depend on it). Each date is signalled on its own cross-section, so the rows of a date are
    the same whether it comes alone (the daily run) or with the whole history (the backtest).
    A confidence column with no value at all on a date (the first fold has no yhat_std, a short
    history no prob_up) is left out for that date rather than turning every score into NaN.
    """
    if preds.empty:
        raise ValueError("no predictions: nothing to trade on")
    dates = pd.to_datetime(preds["date"])
    preds = preds.assign(date=dates)
    regimes = regimes.copy()
    regimes.index = pd.to_datetime(regimes.index)
    no_regime = sorted(set(dates.unique()) - set(regimes.dropna().index))
    if no_regime:
        raise ValueError(f"no regime for {[str(pd.Timestamp(d).date()) for d in no_regime[:5]]}"
                         f"{' ...' if len(no_regime) > 5 else ''}: materialize ml/regimes (the regime "
                         f"model needs its warm-up before the first regime date)")
    optional = [c for c in ("yhat_std", "prob_up") if c in preds]
    # one code per date: bit i set when optional column i has a value on that date
    by_date = preds[optional].notna().groupby(dates).any()
    code = sum((by_date[c].astype(int) * (1 << i) for i, c in enumerate(optional)),
               pd.Series(0, index=by_date.index))
    frames = []
    for combo, part in preds.groupby(dates.map(code).to_numpy(), sort=False):
        drop = [c for i, c in enumerate(optional) if not (combo >> i) & 1]
        frames.append(signals_table(part.drop(columns=drop), regimes, method=spec.signal_method,
                                    top_pct=spec.top_pct, threshold=spec.threshold))
    return pd.concat(frames, ignore_index=True).sort_values(["date", "ticker"]).reset_index(drop=True)


def make_weights(signals: pd.DataFrame, book: Book, returns: pd.DataFrame, sectors: pd.Series,
                 regime: str | None, spec: TradingSpec) -> PortfolioResult:
    """Target weights for the date of ``signals`` (one date's rows of ``trading.signals``).

    ``returns`` are daily returns (date x ticker) up to and including the decision date.
    """
    scores = signals.set_index("ticker")["score"]
    eligible = signals.set_index("ticker")["signal"].fillna(0.0) > 0
    return target_weights(scores, book.shares.index, returns, sectors, regime, spec.portfolio,
                          eligible=eligible)


def portfolio_check(portfolio: PortfolioResult) -> CheckResult:
    """The ``portfolio_valid`` rule: the portfolio step's own verdict (e.g. too few names)."""
    return CheckResult("portfolio_valid", portfolio.valid,
                       "; ".join(portfolio.reasons) if portfolio.reasons else
                       f"{len(portfolio.weights)} names, exposure {portfolio.exposure:.2f}")


def apply_trades(book: Book, trades: pd.DataFrame, mode: str = "paper") -> Book:
    """The book after the approved rows of ``trades`` (gated): shares move, cash pays notional and
    the estimated costs. Blocked rows change nothing."""
    approved = trades[trades["status"] == "approved"]
    signed = np.where(approved["side"] == "BUY", -1.0, 1.0) * approved["notional"].astype(float)
    costs = float((approved["commission_est"] + approved["slippage_est"]).sum()) if len(approved) else 0.0
    return Book(advance_positions(book.shares, trades, mode=mode), book.cash + float(signed.sum()) - costs)


def make_trades(weights: pd.Series, portfolio_ok: CheckResult, book: Book, prices: pd.Series,
                adv_shares: pd.Series, book_returns: pd.Series, sectors: pd.Series, spec: TradingSpec,
                mode: str = "paper") -> TradeDecision:
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
    checks += check_trades(orders, value, spec.max_turnover, spec.max_trade_share,
                           spec.max_cost_share, spec.max_trades)
    checks += kill_switch(book_returns, spec.max_daily_loss, spec.sharpe_window_days, spec.min_sharpe)
    gated = apply_gate(orders, checks)
    approved = gated[gated["status"] == "approved"]
    summary = summarize_trades(approved, value) if len(approved) else {"total_cost": 0.0, "turnover": 0.0}
    book_after = apply_trades(book, gated, mode)
    return TradeDecision(gated, checks, book, book_after, value, float(summary["total_cost"]),
                         float(summary["turnover"]), bool(all(c.passed for c in checks)), tuple(notes))
