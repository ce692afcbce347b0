"""Daily backtest over the out-of-sample prediction history, through the daily run's own code.

For every decision date ``s`` with predictions (the close of ``s``), the backtest calls the same
three functions as the daily run (:mod:`ml.trades.daily`): signals, target weights, trades with
costs and the safety gate. Timing follows the labels (DESIGN.md rule 3):

* orders are sized and filled at the open of the next trading day ``e`` (the execution price);
* the day's return runs from that open to the open of the trading day after, ``e2``, which is
  the ``return_end_date`` of the row: the row's return is known on ``e2``, not before;
* the kill switch on date ``s`` sees only rows whose ``return_end_date <= s``; its state
  (:class:`ml.trades.KillSwitchState`) is carried from date to date like the book, and each row
  records it (``kill_switch_status``, ``kill_switch_halted``, ``kill_switch_halt_days``, ...) with
  the cash after the trades.

Rows of ``trading.backtest_daily`` are keyed by the decision date (the date of the predictions,
signals and weights they come from), one per strategy: ``model`` (the pipeline), and two
benchmarks with no costs -- ``equal_weight_universe`` (every name with a prediction that day,
equal weights, open to open) and ``gspc`` (the ^GSPC index, close of ``e`` to close of ``e2``:
the index has no open in the macro file). A benchmark day without prices (no name priced on
both opens; a date before the index's first value) counts as a zero return.

Simulation-only rule: a held name without a price for more than ``max_price_age_days`` trading
days (a delisting, a long halt) is written off at its last price minus costs, with a note; the
daily run instead blocks trading and names it, for a person to decide.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.portfolio import make_weights
from ml.signals import make_signals
from ml.trades import Book, KillSwitchState, TradingSpec, make_trades, portfolio_check

__all__ = ["BacktestResult", "run_backtest", "price_panels"]

STRATEGY = "model"
BENCH_EQUAL = "equal_weight_universe"
BENCH_INDEX = "gspc"


@dataclass(frozen=True)
class BacktestResult:
    """Daily rows per strategy, the weights and trades of every date, the book after each date."""

    daily: pd.DataFrame       # date, strategy, gross_return, net_return, turnover, cost, equity, ...
    weights: pd.DataFrame     # date, ticker, weight
    trades: pd.DataFrame      # date, ticker, side, shares, price, notional, ..., status, reason
    positions: pd.DataFrame   # date, ticker, shares (after the date's approved trades)
    checks: pd.DataFrame      # date, check, passed, detail
    notes: list[str]


@dataclass(frozen=True)
class PricePanels:
    """Wide (date x ticker) frames built once from long prices."""

    open: pd.DataFrame
    close: pd.DataFrame
    adv: pd.DataFrame
    returns: pd.DataFrame     # close-to-close daily returns (NaN across a missing bar)


def price_panels(prices: pd.DataFrame) -> PricePanels:
    """Wide panels from ``marts.fct_prices``-shaped rows (ticker, date, open, close, adv_20d_shares)."""
    missing = {"ticker", "date", "open", "close", "adv_20d_shares"} - set(prices.columns)
    if missing:
        raise ValueError(f"prices is missing columns {sorted(missing)}")
    frame = prices.assign(date=pd.to_datetime(prices["date"]))
    wide = {c: frame.pivot(index="date", columns="ticker", values=c).sort_index()
            for c in ("open", "close", "adv_20d_shares")}
    close = wide["close"]
    returns = close / close.shift(1) - 1  # NaN where either bar is missing: never filled
    return PricePanels(wide["open"], close, wide["adv_20d_shares"], returns)


def run_backtest(preds: pd.DataFrame, prices: pd.DataFrame, regimes: pd.Series, sectors: pd.Series,
                 spec: TradingSpec | None = None, index_close: pd.Series | None = None,
                 max_price_age_days: int = 5, log: Callable[[str], None] | None = None) -> BacktestResult:
    """Simulate the daily run over every date of ``preds``.

    Parameters
    ----------
    preds : DataFrame
        date, ticker, yhat (+ yhat_std, prob_up): one model stream, one horizon -- typically the
        champion's walk-forward out-of-sample predictions.
    prices : DataFrame
        ``marts.fct_prices`` rows covering the prediction dates and the two trading days after.
    regimes : Series
        date -> regime label (filtered, as in ``ml.regimes``); every prediction date needs one.
    sectors : Series
        ticker -> sector.
    index_close : Series, optional
        date -> ^GSPC close, for the ``gspc`` benchmark.
    log : callable, optional
        Called with a progress line about every tenth of the dates ("backtest: 300/1451 dates ...").
    """
    spec = spec or TradingSpec()
    if preds.empty:
        raise ValueError("preds is empty: no out-of-sample predictions to backtest")
    panels = price_panels(prices)
    calendar = panels.open.index
    preds = preds.assign(date=pd.to_datetime(preds["date"]))
    regimes = regimes.copy()
    regimes.index = pd.to_datetime(regimes.index)
    dates = _decision_dates(preds["date"].unique(), calendar)
    no_regime = [d for d in dates if pd.isna(regimes.get(d))]
    if no_regime:
        raise ValueError(f"no regime for {len(no_regime)} prediction dates, first "
                         f"{[str(d.date()) for d in no_regime[:5]]}: the backtest needs ml.regimes "
                         f"for every date (start the backtest after the regime warm-up)")
    preds = preds[preds["date"].isin(dates)]
    by_date = dict(tuple(make_signals(preds, regimes, spec).groupby("date", sort=True)))

    open_ff = panels.open.ffill(limit=max_price_age_days)
    last_open = panels.open.ffill()
    pos = {d: i for i, d in enumerate(calendar)}
    window = spec.portfolio.cov_window
    ret_values = panels.returns

    book, switch = Book.empty(spec.capital), KillSwitchState()
    rows, weights, trades, positions, checks, notes = [], [], [], [], [], []
    started, step = time.perf_counter(), max(1, len(dates) // 10)
    for done, s in enumerate(dates, start=1):
        i = pos[s]
        e, e2 = calendar[i + 1], calendar[i + 2]
        px = open_ff.loc[e]
        book, written_off = _write_off_stale(book, px, last_open.loc[e], spec, s)
        notes += written_off
        returns = ret_values.iloc[max(0, i + 1 - window): i + 1]
        sig = by_date[s]
        portfolio = make_weights(sig, book, returns, sectors, regimes[s], spec)
        known = _known_returns(rows, s)
        decision = make_trades(portfolio.weights, portfolio_check(portfolio), book, px,
                               panels.adv.loc[s], known, sectors, spec, kill_switch=switch)
        value_next = decision.book_after.cash + decision.book_after.holdings_value(last_open.loc[e2])
        net = value_next / decision.value - 1.0
        gross = (value_next + decision.costs) / decision.value - 1.0
        rows.append({"date": s, "trade_date": e, "return_end_date": e2, "gross_return": gross,
                     "net_return": net, "turnover": decision.turnover, "cost": decision.costs,
                     "n_names": int(len(decision.book_after.shares)), "approved": decision.approved,
                     "regime": regimes[s], "value_end": value_next, "cash": decision.book_after.cash,
                     **decision.kill_switch.record(prefix="kill_switch_")})
        weights.append(portfolio.weights.rename("weight").rename_axis("ticker").reset_index().assign(date=s))
        if len(decision.trades):
            trades.append(decision.trades.assign(date=s))
        positions.append(decision.book_after.shares.rename("shares").rename_axis("ticker")
                         .reset_index().assign(date=s))
        checks.append(pd.DataFrame([{"date": s, "check": c.name, "passed": c.passed, "detail": c.detail}
                                    for c in decision.checks]))
        notes += [f"{s.date()}: {n}" for n in decision.notes]
        book, switch = decision.book_after, decision.kill_switch
        if log is not None and (done % step == 0 or done == len(dates)):
            log(f"backtest: {done}/{len(dates)} dates (to {s.date()}), {time.perf_counter() - started:.0f}s")

    daily = _with_benchmarks(pd.DataFrame(rows), preds, panels, index_close, spec.capital)
    return BacktestResult(
        daily=daily,
        weights=_concat(weights, ["date", "ticker", "weight"]),
        trades=_concat(trades, ["date", "ticker", "side", "shares", "price", "notional", "status", "reason"]),
        positions=_concat(positions, ["date", "ticker", "shares"]),
        checks=_concat(checks, ["date", "check", "passed", "detail"]),
        notes=notes,
    )


def _decision_dates(pred_dates: np.ndarray, calendar: pd.DatetimeIndex) -> list[pd.Timestamp]:
    """Prediction dates on the price calendar with two trading days after them (entry, exit)."""
    dates = sorted(pd.Timestamp(d) for d in pred_dates)
    pos = {d: i for i, d in enumerate(calendar)}
    off_calendar = [d for d in dates if d not in pos]
    if off_calendar:
        raise ValueError(f"prediction dates without prices: {[str(d.date()) for d in off_calendar[:5]]}")
    usable = [d for d in dates if pos[d] + 2 < len(calendar)]
    if not usable:
        raise ValueError("no prediction date has two later trading days of prices: nothing to backtest")
    return usable


def _known_returns(rows: list[dict], s: pd.Timestamp) -> pd.Series:
    """Net returns of earlier rows whose period has ended by ``s`` (their return_end_date <= s)."""
    known = [(r["date"], r["net_return"]) for r in rows if r["return_end_date"] <= s]
    return pd.Series([v for _, v in known], index=[d for d, _ in known], dtype=float)


def _write_off_stale(book: Book, px: pd.Series, last: pd.Series, spec: TradingSpec,
                     s: pd.Timestamp) -> tuple[Book, list[str]]:
    stale = [t for t in book.shares.index if not px.get(t, np.nan) > 0]
    if not stale:
        return book, []
    cost = (spec.commission_bps + spec.slippage_bps) / 1e4
    proceeds = float((book.shares[stale] * last.reindex(stale).fillna(0.0)).sum()) * (1 - cost)
    note = f"{s.date()}: written off at last price (no price for more than the staleness limit): {stale}"
    return Book(book.shares.drop(stale), book.cash + proceeds), [note]


def _with_benchmarks(model: pd.DataFrame, preds: pd.DataFrame, panels: PricePanels,
                     index_close: pd.Series | None, capital: float) -> pd.DataFrame:
    model = model.assign(strategy=STRATEGY, equity=capital * (1 + model["net_return"]).cumprod())
    frames = [model]
    entry = panels.open.reindex(model["trade_date"]).to_numpy()
    exit_ = panels.open.reindex(model["return_end_date"]).to_numpy()
    names = preds.pivot(index="date", columns="ticker", values="yhat").reindex(
        index=model["date"], columns=panels.open.columns).notna().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(names, exit_ / entry - 1.0, np.nan)
    ew = np.nanmean(np.where(np.isfinite(r), r, np.nan), axis=1)
    frames.append(_bench(model, BENCH_EQUAL, ew, capital))
    if index_close is not None and len(index_close):
        idx = index_close.copy()
        idx.index = pd.to_datetime(idx.index)
        idx = idx.sort_index().ffill()
        g = (idx.reindex(model["return_end_date"], method="ffill").to_numpy()
             / idx.reindex(model["trade_date"], method="ffill").to_numpy() - 1.0)
        frames.append(_bench(model, BENCH_INDEX, g, capital))
    return pd.concat(frames, ignore_index=True)


def _bench(model: pd.DataFrame, name: str, returns: np.ndarray, capital: float) -> pd.DataFrame:
    r = pd.Series(returns, index=model.index).fillna(0.0)
    return model[["date", "trade_date", "return_end_date", "regime"]].assign(
        strategy=name, gross_return=r, net_return=r, turnover=0.0, cost=0.0,
        equity=capital * (1 + r).cumprod())


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)
    return out[["date", *[c for c in out.columns if c != "date"]]]
