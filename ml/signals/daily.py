"""The signal step of the trading day: predictions and regimes -> rows of ``trading.signals``.

Called by its Dagster asset in the daily run and, for every date of the history, by
:func:`ml.backtest.run_backtest`: the same inputs give the same rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ml import adapt
from ml.signals.methods import signals_table

if TYPE_CHECKING:  # annotation only: ml.trades imports the signal and portfolio steps' packages
    from ml.trades.spec import TradingSpec


def make_signals(preds: pd.DataFrame, regimes: pd.Series, spec: TradingSpec) -> pd.DataFrame:
    """Rows of ``trading.signals`` (see :func:`ml.signals.signals_table`) for one or many dates.

    ``preds`` holds date, ticker, yhat and optionally yhat_std, prob_up; ``regimes`` maps every
    date to its regime label (a date without one is an error: the score and the exposure both
    depend on it). Each date is signalled on its own cross-section, so the rows of a date are
    the same whether it comes alone (the daily run) or with the whole history (the backtest).
    A confidence column with no value at all on a date (the first fold has no yhat_std, a short
    history no prob_up) is left out for that date rather than turning every score into NaN.
    On a date with few scored names the rank method's ``top_pct`` rises so that the buy list
    holds at least the portfolio's ``min_names`` (:func:`ml.adapt.buy_share`).
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
    top_pct = pd.Series(spec.top_pct, index=by_date.index)
    if spec.signal_method == "rank":
        top_pct = preds.groupby(dates)["yhat"].count().map(
            lambda n: adapt.buy_share(int(n), spec.portfolio.min_names, spec.top_pct)[0])
    frames = []
    keys = [dates.map(code).to_numpy(), dates.map(top_pct).to_numpy()]
    for (combo, pct), part in preds.groupby(keys, sort=False):
        drop = [c for i, c in enumerate(optional) if not (combo >> i) & 1]
        frames.append(signals_table(part.drop(columns=drop), regimes, method=spec.signal_method,
                                    top_pct=float(pct), threshold=spec.threshold))
    return pd.concat(frames, ignore_index=True).sort_values(["date", "ticker"]).reset_index(drop=True)
