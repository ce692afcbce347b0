"""Daily backtest over the out-of-sample prediction history, through the daily run's own kernels.

The signals of every date come from :func:`ml.signals.make_signals` at once. Then, for every
decision date ``s`` (the close of ``s``), the engine calls the two day kernels that the daily
run's functions wrap -- :func:`ml.portfolio.arrays.day_weights` (under ``make_weights``) and
:func:`ml.trades.arrays.trade_day` (under ``make_trades``: orders, costs, every safety rule and
the gate) -- on rows of date x ticker arrays built once (opens, volumes, returns, scores,
eligibility; tickers are positions in one universe sorted by ticker), so the same date and book
give the same weights, trades and book as the daily step; the output frames are built once at
the end. Timing follows the labels (DESIGN.md rule 3):

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

from ml.common import Grid
from ml.portfolio.arrays import day_weights
from ml.signals import make_signals
from ml.trades import ORDER_COLUMNS, CheckResult, KillSwitchState, TradingSpec
from ml.trades.arrays import DayTrades, Orders, trade_day
from ml.trades.orders import orders_frame

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
    grid = Grid.of(prices.assign(date=pd.to_datetime(prices["date"])))
    wide = {c: grid.wide(c) for c in ("open", "close", "adv_20d_shares")}
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
    # tickers as categories: the signal step and the grids below factorize their codes, not strings
    preds = preds.assign(date=pd.to_datetime(preds["date"]), ticker=preds["ticker"].astype("category"))
    regimes = regimes.copy()
    regimes.index = pd.to_datetime(regimes.index)
    dates = _decision_dates(preds["date"].unique(), calendar)
    if not regimes.index.is_unique:
        raise ValueError(f"regimes has duplicated dates "
                         f"{sorted({str(d.date()) for d in regimes.index[regimes.index.duplicated()]})[:5]}")
    regime_of = regimes.reindex(dates).tolist()  # one label per decision date
    no_regime = [d for d, r in zip(dates, regime_of) if pd.isna(r)]
    if no_regime:
        raise ValueError(f"no regime for {len(no_regime)} prediction dates, first "
                         f"{[str(d.date()) for d in no_regime[:5]]}: the backtest needs ml.regimes "
                         f"for every date (start the backtest after the regime warm-up)")
    unknown = sorted({str(r) for r in regime_of} - set(spec.portfolio.exposure))
    if unknown:
        raise ValueError(f"unknown regime {unknown[0]!r} for the date "
                         f"{next(d for d, r in zip(dates, regime_of) if str(r) == unknown[0])}; "
                         f"valid labels are {sorted(spec.portfolio.exposure)}")
    if not sectors.index.is_unique:
        raise ValueError(f"sectors has duplicate tickers: "
                         f"{sorted(set(sectors.index[sectors.index.duplicated()]))}")
    preds = preds[preds["date"].isin(dates)]
    signals = make_signals(preds, regimes, spec)

    # one universe, sorted by ticker: positions break ties as tickers do
    universe = sorted(set(panels.open.columns) | set(signals["ticker"].unique()))
    tickers = np.asarray(universe, dtype=object)
    n = len(universe)
    wide = {k: getattr(panels, k).reindex(columns=universe) for k in ("open", "adv", "returns")}
    open_ff = wide["open"].ffill(limit=max_price_age_days).to_numpy()
    last_open = wide["open"].ffill().to_numpy()
    adv = wide["adv"].to_numpy()
    ret = wide["returns"].to_numpy()
    seen = np.vstack([np.zeros((1, n), dtype=np.int64), np.cumsum(~np.isnan(ret), axis=0)])
    day_rows = pd.Index(dates)
    grid = Grid.of(signals)
    score, signal = (grid.wide(c).reindex(index=day_rows, columns=universe).to_numpy() for c in ("score", "signal"))
    eligible = signal > 0
    codes, labels = pd.factorize(sectors.dropna().reindex(universe), sort=True)
    labels = list(labels)
    pos = {d: i for i, d in enumerate(calendar)}
    window = spec.portfolio.cov_window
    cost_rate = (spec.commission_bps + spec.slippage_bps) / 1e4

    shares, cash, switch = np.zeros(n, dtype=np.int64), float(spec.capital), KillSwitchState()
    out: dict[str, list] = {k: [] for k in ("row", "switch", "w", "t", "p", "c")}
    notes: list[str] = []
    net_by_row: list[float] = []
    end_pos: list[int] = []
    known = 0
    started, step = time.perf_counter(), max(1, len(dates) // 10)
    for k, s in enumerate(dates):
        i = pos[s]
        px, last = open_ff[i + 1], last_open[i + 1]
        stale = np.flatnonzero((shares != 0) & ~(px > 0))
        if len(stale):
            proceeds = float((shares[stale] * np.nan_to_num(last[stale])).sum()) * (1 - cost_rate)
            notes.append(f"{s.date()}: written off at last price (no price for more than the staleness limit): "
                         f"{[universe[j] for j in stale]}")
            shares = shares.copy()
            shares[stale] = 0
            cash += proceeds
        lo = max(0, i + 1 - window)
        regime = regime_of[k]
        exposure = float(spec.portfolio.exposure[regime])
        portfolio = day_weights(score[k], shares != 0, seen[i + 1] - seen[lo], eligible[k],
                                lambda idx, lo=lo, hi=i + 1: ret[lo:hi, idx], codes, len(labels), exposure,
                                spec.portfolio, universe)
        weights = np.zeros(n)
        weights[portfolio.names] = portfolio.weights
        targeted = weights > 0
        verdict = CheckResult("portfolio_valid", portfolio.valid,
                              "; ".join(portfolio.reasons) if portfolio.reasons else
                              f"{int(targeted.sum())} names, exposure {exposure:.2f}")
        while known < k and end_pos[known] <= i:
            known += 1
        lo_r = max(0, known - spec.sharpe_window_days)
        day = trade_day(shares, cash, weights, targeted, px, adv[i], codes, labels, universe, verdict,
                        np.asarray(net_by_row[lo_r:known], dtype=float), spec, switch, ~np.isnan(score[k]),
                        last_return_date=dates[known - 1] if known else None)
        held_after = np.flatnonzero(day.shares_after)
        end = last_open[i + 2, held_after]
        if not (end > 0).all():
            raise ValueError(f"no valid price for held tickers {sorted(tickers[held_after[~(end > 0)]])}")
        value_next = day.cash_after + float((day.shares_after[held_after] * end).sum())
        net = value_next / day.value - 1.0
        out["row"].append((s, calendar[i + 1], calendar[i + 2], (value_next + day.costs) / day.value - 1.0, net,
                           day.turnover, day.costs, len(held_after), day.approved, regime, value_next,
                           day.cash_after))
        out["switch"].append(day.kill_switch.record(prefix="kill_switch_"))
        net_by_row.append(net)
        end_pos.append(i + 2)
        w_pos = np.flatnonzero(targeted)
        out["w"].append((k, w_pos, weights[w_pos]))
        if len(day.orders):
            out["t"].append((k, day))
        out["p"].append((k, held_after, day.shares_after[held_after]))
        out["c"].append((k, day.checks))
        notes += [f"{s.date()}: {m}" for m in day.notes]
        shares, cash, switch = day.shares_after, day.cash_after, day.kill_switch
        if log is not None and ((k + 1) % step == 0 or k + 1 == len(dates)):
            log(f"backtest: {k + 1}/{len(dates)} dates (to {s.date()}), {time.perf_counter() - started:.0f}s")

    rows = pd.concat([pd.DataFrame(out["row"], columns=_ROW_COLUMNS), pd.DataFrame(out["switch"])], axis=1)
    daily = _with_benchmarks(rows, preds, panels, index_close, spec.capital)
    return BacktestResult(daily=daily, weights=_weights_frame(out["w"], day_rows, tickers),
                          trades=_trades_frame(out["t"], day_rows, universe),
                          positions=_positions_frame(out["p"], day_rows, tickers),
                          checks=_checks_frame(out["c"], day_rows), notes=notes)


_ROW_COLUMNS = ["date", "trade_date", "return_end_date", "gross_return", "net_return", "turnover", "cost",
                "n_names", "approved", "regime", "value_end", "cash"]


def _long(parts: list[tuple[int, np.ndarray, np.ndarray]], dates: pd.Index, tickers: np.ndarray,
          value: str, dtype: object) -> pd.DataFrame:
    """date, ticker, value rows from per-day (day index, positions, values), built once."""
    if not parts:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "ticker": pd.Series(dtype=object),
                             value: pd.Series(dtype=dtype)})
    day = np.concatenate([np.full(len(p), k) for k, p, _ in parts])
    return pd.DataFrame({"date": dates[day] if len(day) else pd.DatetimeIndex([]),
                         "ticker": pd.Series(tickers[np.concatenate([p for _, p, _ in parts])].tolist(), dtype="str"),
                         value: np.concatenate([v for _, _, v in parts]).astype(dtype)})


def _weights_frame(parts: list, dates: pd.Index, tickers: np.ndarray) -> pd.DataFrame:
    return _long(parts, dates, tickers, "weight", float)


def _positions_frame(parts: list, dates: pd.Index, tickers: np.ndarray) -> pd.DataFrame:
    return _long(parts, dates, tickers, "shares", np.int64)


def _trades_frame(parts: list[tuple[int, DayTrades]], dates: pd.Index, universe: list[str]) -> pd.DataFrame:
    columns = ["date", *ORDER_COLUMNS, "status", "reason"]
    if not parts:
        return pd.DataFrame(columns=columns)
    merged = Orders(*[np.concatenate([getattr(d.orders, f) for _, d in parts])
                      for f in ("pos", "buy", "shares", "price", "notional", "weight_change", "commission",
                                "slippage", "flag")])
    frame = orders_frame(merged, universe)
    frame.insert(0, "date", dates[np.concatenate([np.full(len(d.orders), k) for k, d in parts])])
    frame["status"] = np.concatenate([d.status for _, d in parts])
    frame["reason"] = np.concatenate([d.reason for _, d in parts])
    return frame[columns]


def _checks_frame(parts: list[tuple[int, list[CheckResult]]], dates: pd.Index) -> pd.DataFrame:
    day = np.repeat([k for k, checks in parts], [len(checks) for _, checks in parts])
    return pd.DataFrame({"date": dates[day] if len(day) else pd.DatetimeIndex([]),
                         "check": [c.name for _, checks in parts for c in checks],
                         "passed": [c.passed for _, checks in parts for c in checks],
                         "detail": [c.detail for _, checks in parts for c in checks]})


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


def _with_benchmarks(model: pd.DataFrame, preds: pd.DataFrame, panels: PricePanels,
                     index_close: pd.Series | None, capital: float) -> pd.DataFrame:
    model = model.assign(strategy=STRATEGY, equity=capital * (1 + model["net_return"]).cumprod())
    frames = [model]
    entry = panels.open.reindex(model["trade_date"]).to_numpy()
    exit_ = panels.open.reindex(model["return_end_date"]).to_numpy()
    names = Grid.of(preds).wide("yhat").reindex(
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
