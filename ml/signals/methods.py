"""Turn model predictions into trading signals.

Two steps, each a plain function:

* :func:`combine_scores` -- one score per (date, ticker) from the model output
  (``yhat``, its uncertainty ``yhat_std``, the probability of an up move
  ``prob_up``) and the market regime of the date;
* :func:`predictions_to_signals` -- a date x ticker frame of scores becomes a
  frame of signals (``rank``: long the top names; ``threshold``: long where the
  score clears a bar; ``zscore``: the cross-sectional z-score).

:func:`signals_table` chains both on a long ``ml.preds``-shaped frame and
returns the rows of ``trading.signals`` (date, ticker, score, signal, method).

A missing prediction is never turned into a neutral value: NaN in, NaN out.

Examples
--------
>>> import pandas as pd
>>> wide = pd.DataFrame({"A": [0.3], "B": [0.1], "C": [0.2], "D": [0.0]})
>>> predictions_to_signals(wide, method="rank", top_pct=0.25).iloc[0].tolist()
[1.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ml.common import Grid

__all__ = [
    "DEFAULT_REGIME_MULTIPLIERS",
    "METHODS",
    "combine_scores",
    "predictions_to_signals",
    "signals_table",
]

METHODS: tuple[str, ...] = ("rank", "threshold", "zscore")
DEFAULT_REGIME_MULTIPLIERS: Mapping[str, float] = {
    "risk_on": 1.0,
    "neutral": 0.8,
    "risk_off": 0.5,
}
_CEIL_TOL = 1e-9  # 0.1 * 30 is 3.0000000000000004 in floating point


def predictions_to_signals(
    predictions: pd.DataFrame,
    method: str = "rank",
    top_pct: float = 0.1,
    threshold: float = 0.0,
) -> pd.DataFrame:
    """Cross-sectional signals from a date x ticker frame of predictions.

    Parameters
    ----------
    predictions : DataFrame
        Index dates, columns tickers, values predictions (or scores). NaN means
        "no prediction for this name on this date"; it stays NaN in the output.
    method : {"rank", "threshold", "zscore"}
        ``rank``: 1.0 for the ``k = max(1, ceil(top_pct * n))`` highest names of
        each date (``n`` = non-NaN names), 0.0 for the others; ties are broken
        by column order so exactly ``k`` names are selected.
        ``threshold``: 1.0 where the prediction is ``>= threshold``, else 0.0.
        ``zscore``: ``(x - mean) / std`` per date (population std, ``ddof=0``);
        a date whose names all have the same value gets 0.0, never inf/NaN.
    top_pct : float
        Fraction of names selected by ``rank``, in (0, 1].
    threshold : float
        Bar for ``threshold`` (inclusive).

    Returns
    -------
    DataFrame
        Same shape, index and columns as ``predictions``.

    Raises
    ------
    ValueError
        On an empty frame, an unknown method, or ``top_pct`` outside (0, 1].
    """
    if predictions.empty:
        raise ValueError("predictions is empty: no dates or no tickers to signal")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods are {list(METHODS)}")
    values = predictions.astype(float)
    if np.isinf(values.to_numpy()).any():
        raise ValueError("predictions contain inf; expected finite values or NaN")
    if method == "threshold":
        return values.ge(threshold).astype(float).where(values.notna())
    if method == "zscore":
        return _zscore(values)
    if not 0.0 < top_pct <= 1.0:
        raise ValueError(f"top_pct must be in (0, 1], got {top_pct!r}")
    return _top_rank(values, top_pct)


def _top_rank(values: pd.DataFrame, top_pct: float) -> pd.DataFrame:
    order = values.rank(axis=1, method="first", ascending=False)
    n = values.notna().sum(axis=1)
    k = np.maximum(1, np.ceil(top_pct * n - _CEIL_TOL)).astype(float)
    return order.le(k, axis=0).astype(float).where(values.notna())


def _zscore(values: pd.DataFrame) -> pd.DataFrame:
    centred = values.sub(values.mean(axis=1), axis=0)
    std = values.std(axis=1, ddof=0)
    safe_std = std.where(std > 0, 1.0)  # all-equal rows: centred is 0 -> z = 0
    return centred.div(safe_std, axis=0)


def combine_scores(
    yhat: pd.Series,
    yhat_std: pd.Series | None = None,
    prob_up: pd.Series | None = None,
    regime: pd.Series | None = None,
    *,
    eps: float = 1e-6,
    regime_multipliers: Mapping[str, float] = DEFAULT_REGIME_MULTIPLIERS,
) -> pd.Series:
    """Combine a prediction with its confidence and the market regime.

    The rule, applied row by row (all inputs aligned on the same index)::

        t     = yhat / (yhat_std + eps)          if yhat_std is given, else yhat
        p_dir = prob_up if t >= 0 else 1 - prob_up  (prob. the predicted sign is right)
        score = t * p_dir * multiplier[regime]   (factors omitted when not given)

    So a confident prediction (small ``yhat_std``) counts more, a prediction
    whose direction the classifier doubts is shrunk toward 0, and the regime
    scales every score of a date alike (default: risk_on 1.0, neutral 0.8,
    risk_off 0.5). A date-wide multiplier leaves the cross-sectional ``rank``
    and ``zscore`` signals unchanged; it matters for ``threshold`` and sizing.

    NaN in any given input gives a NaN score (no prediction), never 0.

    Raises
    ------
    ValueError
        On an empty input, a negative ``yhat_std``, a ``prob_up`` outside
        [0, 1], or a regime label not in ``regime_multipliers`` (each message
        names the offending values).

    Examples
    --------
    >>> import pandas as pd
    >>> combine_scores(pd.Series([0.02, -0.02]), pd.Series([0.01, 0.01]),
    ...                pd.Series([0.75, 0.75]), pd.Series(["risk_on", "risk_off"]),
    ...                eps=0.0).round(6).tolist()
    [1.5, -0.25]
    """
    if len(yhat) == 0:
        raise ValueError("yhat is empty: nothing to score")
    score = yhat.astype(float)
    if yhat_std is not None:
        std = yhat_std.astype(float)
        if (std < 0).any():
            raise ValueError(f"yhat_std must be >= 0; negative values: {std[std < 0].tolist()}")
        score = score / (std + eps)
    if prob_up is not None:
        p = prob_up.astype(float)
        bad = p[(p < 0) | (p > 1)]
        if len(bad):
            raise ValueError(f"prob_up must be in [0, 1]; got {bad.tolist()}")
        score = score * p.where(score >= 0, 1.0 - p).where(score.notna())
    if regime is not None:
        unknown = sorted(set(regime.dropna().unique()) - set(regime_multipliers))
        if unknown:
            raise ValueError(
                f"unknown regime labels {unknown}; expected one of {sorted(regime_multipliers)}"
            )
        score = score * regime.map(dict(regime_multipliers)).astype(float)
    return score


def signals_table(
    preds: pd.DataFrame,
    regimes: pd.Series | None = None,
    method: str = "rank",
    top_pct: float = 0.1,
    threshold: float = 0.0,
    **score_kwargs: float,
) -> pd.DataFrame:
    """Rows of ``trading.signals`` from a long frame of predictions.

    Parameters
    ----------
    preds : DataFrame
        Columns ``date``, ``ticker``, ``yhat`` and optionally ``yhat_std``,
        ``prob_up``; one row per (date, ticker) -- filter to one horizon and
        one model first.
    regimes : Series, optional
        Regime label per date (index dates). When given, every date of
        ``preds`` must have one.
    method, top_pct, threshold
        Passed to :func:`predictions_to_signals`, applied to the scores.
    **score_kwargs
        ``eps`` for :func:`combine_scores`.

    Returns
    -------
    DataFrame
        Columns ``date, ticker, score, signal, method`` sorted by date, ticker.

    Raises
    ------
    ValueError
        On an empty frame, missing columns, duplicate (date, ticker) rows, or
        a date without a regime (named in the message).
    """
    if preds.empty:
        raise ValueError("preds is empty: nothing to turn into signals")
    missing = {"date", "ticker", "yhat"} - set(preds.columns)
    if missing:
        raise ValueError(f"preds is missing columns {sorted(missing)}")
    try:
        grid = Grid.of(preds)  # the (date, ticker) keys factorized once, for the wide step and back
    except ValueError as err:
        raise ValueError(f"{err} in preds") from None
    regime = None
    if regimes is not None:
        per_date = regimes.reindex(grid.index)  # one label per date, then each row its date's
        no_regime = grid.index[per_date.isna().to_numpy()]
        if len(no_regime):
            raise ValueError(f"no regime for dates {[str(d) for d in no_regime]}")
        regime = pd.Series(pd.Categorical(per_date.to_numpy())[grid.rows], index=preds.index)
    score = combine_scores(
        preds["yhat"],
        preds.get("yhat_std"),
        preds.get("prob_up"),
        regime,
        **score_kwargs,
    )
    out = pd.DataFrame({"date": preds["date"], "ticker": preds["ticker"], "score": score})
    signal = predictions_to_signals(grid.wide(score.to_numpy()), method=method, top_pct=top_pct, threshold=threshold)
    out["signal"] = grid.at(signal.to_numpy())
    out["method"] = method
    return out.iloc[np.lexsort((grid.cols, grid.rows))].reset_index(drop=True)  # by date, ticker
