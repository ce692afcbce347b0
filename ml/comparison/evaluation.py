"""Comparison of model candidates x portfolio optimizers, on out-of-sample predictions.

Plain functions the model-comparison asset chains:

* :func:`prediction_metrics` -- how well one candidate's OOS predictions rank names (IC, spread);
* :func:`rank_ensemble` -- the ensemble candidate: mean of the members' per-date percentile ranks;
* :func:`window_split` -- the first date of the untouched final window;
* :func:`backtest_candidates` -- one :func:`ml.backtest.run_backtest` per (model, optimizer) over
  the candidate's whole OOS history, scored separately on the validation and the final window;
* :func:`sharpe_matrix` -- models x optimizers Sharpe ratios of one window.

Windows are split by **decision date** (the ``date`` of a backtest row: the predictions, signals
and weights it comes from), not by ``return_end_date`` (two trading days later, when the row's
return is known). The last validation rows' returns end a day or two inside the final
window; no decision of the final window is used to choose, so reporting on it stays honest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd

from ml import metrics as mt
from ml.backtest import (
    BENCH_EQUAL,
    BENCH_INDEX,
    REGIME_ORDER,
    STRATEGY,
    performance_summary,
    regime_breakdown,
    run_backtest,
)
from ml.common import check_int
from ml.parallel import Parallelism, available_cpus, run_parallel
from ml.portfolio import OPTIMIZERS
from ml.trades import TradingSpec

__all__ = ["LABEL_COLUMNS", "METRIC_COLUMNS", "Comparison", "backtest_candidates",
           "prediction_metrics", "rank_ensemble", "sharpe_matrix", "window_split"]

#: Label columns of :attr:`ml.training.WalkForwardResult.predictions` that an ensemble carries.
LABEL_COLUMNS: tuple[str, ...] = ("fold", "label_end_date", "fwd_return", "fwd_excess_return")
#: Metrics of a backtest window, in the order of :attr:`Comparison.table`'s columns.
METRIC_COLUMNS: tuple[str, ...] = (
    "sharpe", "cagr", "max_drawdown", "calmar", "turnover", "win_rate", "volatility", "n_days",
    *(f"sharpe_{r}" for r in REGIME_ORDER))
VALIDATION, FINAL = "validation", "final"
# a backtest day of these costs 2-3x one of equal weight or inverse vol (bench/results/backtest-engine.md)
_COVARIANCE_OPTIMIZERS = frozenset({"hrp", "min_variance"})
_KEYS = ["date", "ticker"]


def _require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}; it has {list(df.columns)}")


def prediction_metrics(predictions: pd.DataFrame) -> dict[str, float]:
    """Out-of-sample ranking quality of one candidate, over rows with a known label.

    Parameters
    ----------
    predictions : DataFrame
        date, ticker, yhat, fwd_excess_return (as :attr:`ml.training.WalkForwardResult.predictions`);
        rows with no ``fwd_excess_return`` (label not known yet) or no ``yhat`` are left out.

    Returns
    -------
    dict of str to float
        ``ic`` / ``rank_ic`` -- mean daily Pearson / Spearman IC of yhat with fwd_excess_return
        (:func:`ml.metrics.daily_ic`: dates with < 3 names or a constant side are not scored);
        ``icir`` / ``rank_icir`` -- mean / std of those daily ICs (:func:`ml.metrics.ic_summary`);
        ``spread_top_bottom`` -- mean per-date top-minus-bottom decile fwd_excess_return
        (:func:`ml.metrics.quantile_spread`; NaN when no date has 10 names or predictions too
        tied to cut into deciles, e.g. a constant model); ``hit_rate`` -- :func:`ml.metrics.hit_rate`: the share of rows whose yhat has
        the sign of fwd_excess_return (a zero agrees only with a zero). For the rank ensemble
        (yhat in (0, 1]) it is just the share of positive excess returns: compare it between
        models that predict returns only. ``n_dates`` -- distinct dates with a labelled row;
        ``n_predictions`` -- labelled rows. A statistic with no scorable date is NaN.

    Raises
    ------
    ValueError
        On missing columns or when no row has both yhat and a label.
    """
    _require(predictions, ["date", "yhat", "fwd_excess_return"], "predictions")
    rows = predictions[predictions["yhat"].notna() & predictions["fwd_excess_return"].notna()]
    if rows.empty:
        raise ValueError(f"no prediction with both yhat and a known fwd_excess_return "
                         f"among {len(predictions)} rows: nothing to evaluate")
    out: dict[str, float] = {}
    for method, ic_name, ir_name in (("pearson", "ic", "icir"), ("spearman", "rank_ic", "rank_icir")):
        daily = mt.daily_ic(rows, "yhat", "fwd_excess_return", method=method)  # type: ignore[arg-type]
        summary = mt.ic_summary(daily) if len(daily) else {"mean": math.nan, "icir": math.nan}
        out[ic_name], out[ir_name] = float(summary["mean"]), float(summary["icir"])
    names = rows.groupby("date")["yhat"].size()
    try:  # no date with 10 names, or predictions too tied to cut into deciles: NaN
        out["spread_top_bottom"] = float(mt.quantile_spread(rows, "yhat", "fwd_excess_return", 10)[0])
    except ValueError:
        out["spread_top_bottom"] = math.nan
    out["hit_rate"] = mt.hit_rate(rows["yhat"], rows["fwd_excess_return"])
    out["n_dates"] = float(len(names))
    out["n_predictions"] = float(len(rows))
    return out


def rank_ensemble(predictions_by_model: Mapping[str, pd.DataFrame], members: Sequence[str]) -> pd.DataFrame:
    """The ensemble candidate: per (date, ticker), the mean of the members' percentile ranks.

    Each member's yhat is ranked across names on each date (``rank(pct=True)``, ties share their
    average rank; a NaN yhat has no rank); the ensemble's yhat is the mean over the members that
    ranked the row. A row only some members scored gets the mean of those members' ranks, each
    taken within that member's own cross-section. Ranks use only the date's own cross-section,
    so the ensemble is point-in-time safe whenever its members are.

    Parameters
    ----------
    predictions_by_model : Mapping
        Model name -> OOS predictions: date, ticker, yhat and the :data:`LABEL_COLUMNS`.
    members : sequence of str
        At least two distinct names of ``predictions_by_model``.

    Returns
    -------
    DataFrame
        date, ticker, yhat (in (0, 1]: a rank score, not a return -- use it with the ``rank``
        signal method), yhat_std and prob_up (NaN: ranks have no uncertainty or calibrated
        probability; :func:`ml.signals.make_signals` leaves such columns out), the label
        columns and ``n_members`` (members that ranked the row), sorted by (date, ticker).

    Raises
    ------
    ValueError
        On fewer than two or repeated members, an unknown member, missing columns, duplicated
        (date, ticker) rows in a member, or label columns that differ between members for the
        same row (they come from the same panel, so a difference means mismatched inputs).

    Examples
    --------
    >>> a = pd.DataFrame({"date": ["2024-01-02"] * 2, "ticker": ["X", "Y"], "yhat": [0.1, 0.2],
    ...                   "fold": 0, "label_end_date": None, "fwd_return": 0.0, "fwd_excess_return": 0.0})
    >>> rank_ensemble({"a": a, "b": a.assign(yhat=[5.0, -1.0])}, ["a", "b"])["yhat"].tolist()
    [0.75, 0.75]
    """
    members = list(members)
    if len(members) < 2 or len(set(members)) != len(members):
        raise ValueError(f"members must be at least two distinct model names, got {members}")
    unknown = [m for m in members if m not in predictions_by_model]
    if unknown:
        raise ValueError(f"members {unknown} not in predictions_by_model ({list(predictions_by_model)})")
    frames = []
    for name in members:
        df = predictions_by_model[name]
        _require(df, [*_KEYS, "yhat", *LABEL_COLUMNS], f"predictions of {name!r}")
        df = df.assign(date=pd.to_datetime(df["date"]))
        dup = df.duplicated(_KEYS)
        if dup.any():
            raise ValueError(f"predictions of {name!r} have duplicated (date, ticker) rows, e.g. "
                             f"{df.loc[dup, _KEYS].iloc[0].tolist()}")
        frames.append(df[[*_KEYS, *LABEL_COLUMNS]].assign(
            rank=df.groupby("date")["yhat"].rank(pct=True)))
    grouped = pd.concat(frames, ignore_index=True).groupby(_KEYS, sort=True)
    differs = grouped[list(LABEL_COLUMNS)].nunique(dropna=False) > 1
    if differs.to_numpy().any():
        col = differs.columns[differs.any()][0]
        key = differs.index[differs[col]][0]
        raise ValueError(f"members {members} disagree on {col!r} for (date, ticker) "
                         f"{(str(key[0].date()), key[1])}: the label columns must be identical")
    out = grouped[list(LABEL_COLUMNS)].first()  # identical in every member (checked above)
    out.insert(0, "yhat", grouped["rank"].mean())
    out.insert(1, "yhat_std", np.nan)
    out.insert(2, "prob_up", np.nan)
    out["n_members"] = grouped["rank"].count()
    return out.reset_index()


def window_split(dates: Any, final_days: int, min_validation_days: int = 126) -> pd.Timestamp:
    """First date of the untouched final window: the last ``final_days`` distinct decision dates.

    Validation is every date before it. Half a year (126 trading days) of validation is the
    default minimum: fewer leave the Sharpe ratios used to choose a candidate too noisy.

    Parameters
    ----------
    dates : array-like of dates
        Decision dates (repeats allowed, e.g. the ``date`` column of a prediction panel).
    final_days : int
        Distinct dates in the final window, >= 1.
    min_validation_days : int, default=126
        Distinct dates that must remain for validation, >= 1.

    Raises
    ------
    ValueError
        On a bad ``final_days`` / ``min_validation_days``, missing dates, or fewer than
        ``final_days + min_validation_days`` distinct dates.

    Examples
    --------
    >>> window_split(pd.bdate_range("2024-01-01", periods=10), 3, min_validation_days=7)
    Timestamp('2024-01-10 00:00:00')
    """
    for name, value in (("final_days", final_days), ("min_validation_days", min_validation_days)):
        check_int(name, value, 1)
    index = pd.DatetimeIndex(pd.to_datetime(pd.Index(dates)))
    if index.hasnans:
        raise ValueError(f"dates has {int(index.isna().sum())} missing values")
    distinct = index.unique().sort_values()
    if len(distinct) < final_days + min_validation_days:
        raise ValueError(f"{len(distinct)} distinct dates are too few for final_days={final_days} "
                         f"plus min_validation_days={min_validation_days} of validation")
    return pd.Timestamp(distinct[-final_days])


@dataclass(frozen=True)
class Comparison:
    """Output of :func:`backtest_candidates`.

    ``table``: one row per (model, optimizer, window): model, optimizer, window (``validation``
    / ``final``), :data:`METRIC_COLUMNS`, ``elapsed_s`` (wall time of the combo's backtest).
    ``returns``: the ``model`` strategy's daily rows of every combo -- date (decision date),
    model, optimizer, window, net_return, equity (money from ``spec.capital``, whole history).
    ``benchmarks`` / ``benchmark_returns``: the same, keyed by ``benchmark``
    (equal_weight_universe, gspc) instead of model and optimizer. ``final_start``: first
    decision date of the final window (None: everything is validation).
    """

    table: pd.DataFrame
    returns: pd.DataFrame
    benchmarks: pd.DataFrame
    benchmark_returns: pd.DataFrame
    final_start: pd.Timestamp | None
    notes: list[str]


def _run_combo(preds: pd.DataFrame, prices: pd.DataFrame, regimes: pd.Series, sectors: pd.Series,
               spec: TradingSpec, index_close: pd.Series | None) -> tuple[pd.DataFrame, list[str], float]:
    """One backtest (top level so joblib can send it to a worker process)."""
    start = time.perf_counter()
    result = run_backtest(preds, prices, regimes, sectors, spec, index_close=index_close)
    return result.daily, result.notes, time.perf_counter() - start


def _window_metrics(rows: pd.DataFrame) -> dict[str, float]:
    """Metrics of one strategy's daily rows (one window); per-regime Sharpe from the row regimes."""
    r = rows.set_index("date")["net_return"]
    s = performance_summary(r, turnover=rows.set_index("date")["turnover"])
    by_regime = regime_breakdown(r, rows.set_index("date")["regime"])["sharpe"]
    out = {k: float(s[k]) for k in ("sharpe", "cagr", "max_drawdown", "calmar", "turnover", "volatility")}
    out |= {"win_rate": float((r > 0).mean()), "n_days": float(len(r))}
    out |= {f"sharpe_{k}": float(by_regime.get(k, math.nan)) for k in REGIME_ORDER}
    return {k: out[k] for k in METRIC_COLUMNS}


def _by_window(rows: pd.DataFrame, final_start: pd.Timestamp | None,
               what: str) -> list[tuple[str, pd.DataFrame]]:
    """(window, rows) pairs split by decision date; an empty window raises, naming ``what``."""
    if final_start is None:
        return [(VALIDATION, rows)]
    parts = [(VALIDATION, rows[rows["date"] < final_start]), (FINAL, rows[rows["date"] >= final_start])]
    empty = [w for w, part in parts if part.empty]
    if empty:
        first, last = rows["date"].min().date(), rows["date"].max().date()
        raise ValueError(f"{what}: no backtest day in the {empty} window(s) with final_start="
                         f"{final_start.date()} (backtest days {first}..{last})")
    return parts


def backtest_candidates(
    predictions_by_model: Mapping[str, pd.DataFrame], optimizers: Sequence[str], prices: pd.DataFrame,
    regimes: pd.Series, sectors: pd.Series, spec: TradingSpec, index_close: pd.Series | None = None,
    final_start: Any | None = None, n_jobs: int = 1, log: Callable[[str], None] | None = None,
    parallelism: Parallelism | None = None,
) -> Comparison:
    """Backtest every (model, optimizer) over the candidates' common OOS dates and score the windows.

    Every candidate is restricted to the prediction dates common to **all** candidates (noted
    when that drops dates), so every combo is backtested on identical decision dates. Each
    combo is one :func:`ml.backtest.run_backtest` with ``spec`` whose ``portfolio.optimizer`` is
    replaced; its ``model`` rows are scored on the validation window (decision dates before
    ``final_start``) and the final window (from ``final_start`` on), each compounded on its own.
    Benchmarks come from the first model's runs (equal_weight_universe is over the names it
    predicted; noted when another model's universe gives a different benchmark).

    Parameters
    ----------
    predictions_by_model : Mapping
        Model name -> OOS predictions (date, ticker, yhat, optionally yhat_std, prob_up).
    optimizers : sequence of str
        Distinct names of :data:`ml.portfolio.OPTIMIZERS`. A backtest date costs a few
        milliseconds (numpy day kernels, bench/results/backtest-engine.md).
    prices, regimes, sectors, spec, index_close
        As :func:`ml.backtest.run_backtest`.
    final_start : date, optional
        First decision date of the final window (see :func:`window_split`); both windows must
        hold dates. Choosing with the final window in view would leak it: choose on validation.
        None: every date is validation and there are no final rows.
    n_jobs : int, default=1
        Worker processes (joblib, one task per combo); results and their order are the same
        for every value. Each worker first imports pandas, scikit-learn and scipy, a few
        seconds: worth it for long histories, not for a handful of dates.
    log : callable, optional
        Called with a progress line as each backtest finishes ("backtest 5/24 ridge x hrp: 41.2s"),
        in combo order.
    parallelism : ml.parallel.Parallelism, optional
        Where the backtests run (local processes or a Dask cluster, :func:`ml.parallel.run_parallel`);
        given, it replaces ``n_jobs``. The results and their order are the same wherever they run.

    Returns
    -------
    Comparison
        Rows ordered by model (mapping order), optimizer (given order), window.

    Raises
    ------
    ValueError
        On no candidates, a bad optimizer list or ``n_jobs``, missing columns, no common date,
        an empty window, or any error of :func:`ml.backtest.run_backtest`.
    """
    if not predictions_by_model:
        raise ValueError("predictions_by_model is empty: no candidate to backtest")
    optimizers = list(optimizers)
    bad = [o for o in optimizers if o not in OPTIMIZERS]
    if not optimizers or bad or len(set(optimizers)) != len(optimizers):
        raise ValueError(f"optimizers must be distinct names of {list(OPTIMIZERS)}, got {optimizers}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer (joblib convention), got {n_jobs!r}")
    preds: dict[str, pd.DataFrame] = {}
    for name, df in predictions_by_model.items():
        _require(df, [*_KEYS, "yhat"], f"predictions of {name!r}")
        preds[name] = df.assign(date=pd.to_datetime(df["date"]))
    common = reduce(pd.Index.intersection, (pd.Index(df["date"].unique()) for df in preds.values()))
    if common.empty:
        raise ValueError(f"candidates {list(preds)} have no prediction date in common")
    notes = [f"{name}: {n - len(common)} of {n} prediction dates left out (not common to every candidate)"
             for name, df in preds.items() if (n := df["date"].nunique()) > len(common)]
    preds = {name: df[df["date"].isin(common)] for name, df in preds.items()}
    final_start = None if final_start is None else pd.Timestamp(final_start)
    if final_start is not None and not (common.min() < final_start <= common.max()):
        raise ValueError(f"final_start={final_start.date()} leaves a window empty: common prediction "
                         f"dates run {common.min().date()}..{common.max().date()}")

    combos = [(m, o) for m in preds for o in optimizers]
    jobs = [(preds[m], prices, regimes, sectors,
             replace(spec, portfolio=replace(spec.portfolio, optimizer=o)), index_close)
            for m, o in combos]
    if parallelism is None:  # joblib's n_jobs: -1 every CPU, -2 all but one, ...
        parallelism = Parallelism(n_jobs=int(n_jobs) if n_jobs > 0 else max(1, available_cpus() + 1 + int(n_jobs)))
    # the optimizers that fit a covariance every day first, so that the last backtests to start are short
    order = sorted(range(len(jobs)), key=lambda i: combos[i][1] not in _COVARIANCE_OPTIMIZERS)
    results: list[Any] = [None] * len(jobs)
    for done, (i, result) in enumerate(zip(order, run_parallel(_run_combo, [jobs[i] for i in order],
                                                                 parallelism), strict=True), start=1):
        results[i] = result
        if log is not None:
            model, optimizer = combos[i]
            log(f"backtest {done}/{len(combos)} {model} x {optimizer}: {result[2]:.1f}s")

    rows, returns = [], []
    bench_daily: pd.DataFrame | None = None
    for (model, optimizer), (daily, run_notes, elapsed) in zip(combos, results, strict=True):
        mine = daily[daily["strategy"] == STRATEGY]
        for window, part in _by_window(mine, final_start, f"{model}/{optimizer}"):
            rows.append({"model": model, "optimizer": optimizer, "window": window,
                         **_window_metrics(part), "elapsed_s": elapsed})
            returns.append(part[["date", "net_return", "equity"]].assign(
                model=model, optimizer=optimizer, window=window))
        if run_notes:
            notes.append(f"{model}/{optimizer}: {len(run_notes)} backtest notes, first: {run_notes[0]}")
        bench = daily[daily["strategy"].isin([BENCH_EQUAL, BENCH_INDEX])].reset_index(drop=True)
        if bench_daily is None:
            bench_daily = bench
        elif optimizer == optimizers[0] and not bench["net_return"].equals(bench_daily["net_return"]):
            notes.append(f"{model}: its benchmarks differ from {combos[0][0]}'s (another prediction "
                         f"universe); the benchmarks reported are {combos[0][0]}'s")
    assert bench_daily is not None  # at least one combo ran
    bench_rows, bench_returns = [], []
    for name, daily in bench_daily.groupby("strategy", sort=False):
        for window, part in _by_window(daily, final_start, str(name)):
            bench_rows.append({"benchmark": name, "window": window, **_window_metrics(part)})
            bench_returns.append(part[["date", "net_return", "equity"]].assign(benchmark=name, window=window))
    return Comparison(
        table=pd.DataFrame(rows),
        returns=pd.concat(returns, ignore_index=True)[
            ["date", "model", "optimizer", "window", "net_return", "equity"]],
        benchmarks=pd.DataFrame(bench_rows),
        benchmark_returns=pd.concat(bench_returns, ignore_index=True)[
            ["date", "benchmark", "window", "net_return", "equity"]],
        final_start=final_start,
        notes=notes,
    )


def sharpe_matrix(table: pd.DataFrame, window: str = VALIDATION) -> pd.DataFrame:
    """Sharpe ratios of one window as a models x optimizers frame (rows and columns in table order).

    Raises
    ------
    ValueError
        When ``table`` has no row for ``window`` (or lacks the columns).
    """
    _require(table, ["model", "optimizer", "window", "sharpe"], "table")
    part = table[table["window"] == window]
    if part.empty:
        raise ValueError(f"table has no row for window={window!r}; "
                         f"windows: {sorted(table['window'].unique())}")
    wide = part.pivot(index="model", columns="optimizer", values="sharpe")
    return wide.reindex(index=pd.unique(part["model"]), columns=pd.unique(part["optimizer"]))
