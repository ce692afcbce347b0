"""Model performance over time on matured predictions: the IC history, quintile returns and the drift rule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ml.common import check_int, iso
from ml.metrics import daily_ic, quantile_spread

_MIN_IC_NAMES = 3  # ml.metrics.daily_ic never scores fewer names


_IC_COLUMNS = ("ic", "rank_ic", "n", "rolling_ic", "rolling_rank_ic")


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _check_columns(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {list(df.columns)}")


def _as_of(as_of: Any) -> pd.Timestamp:
    ts = pd.Timestamp(as_of)
    if pd.isna(ts):
        raise ValueError(f"as_of must be a date, got {as_of!r}")
    return ts


def _matured(preds: pd.DataFrame, as_of: Any, columns: Sequence[str]) -> pd.DataFrame:
    """Rows of ``preds`` whose label is known on ``as_of``, with ``date`` as datetime.

    This is the single point-in-time filter of the module.
    """
    _check_columns(preds, ["date", "label_end_date", *columns], "preds")
    cutoff = _as_of(as_of)
    end = pd.to_datetime(preds["label_end_date"])
    out = preds.loc[(end <= cutoff).to_numpy(), ["date", *columns]].copy()
    out["date"] = pd.to_datetime(out["date"])
    if out["date"].isna().any():
        raise ValueError(f"preds has {int(out['date'].isna().sum())} matured rows without a date")
    return out


# --------------------------------------------------------------------------- #
# prediction quality
# --------------------------------------------------------------------------- #
def ic_history(
    preds: pd.DataFrame,
    as_of: Any,
    *,
    prediction: str = "yhat",
    label: str = "fwd_excess_return",
    window: int = 63,
    min_names: int = 5,
) -> pd.DataFrame:
    """Daily information coefficient of the matured predictions, with rolling means.

    Parameters
    ----------
    preds : DataFrame
        Long frame with ``date``, ``label_end_date``, ``prediction`` and
        ``label`` columns (one model, one horizon).
    as_of : date-like
        Only rows with ``label_end_date <= as_of`` are used (see the module
        docstring); a later row cannot change the result.
    prediction, label : str
        Columns correlated on each date.
    window : int, default=63
        Rolling window, in scored dates (63 trading days ~ one quarter).
    min_names : int, default=5
        Dates with fewer names having both a prediction and a label are not
        scored; at least 3 (the minimum of :func:`ml.metrics.daily_ic`).

    Returns
    -------
    DataFrame
        Index ``date`` (datetime, sorted), one row per **scored** date;
        columns ``ic`` (Pearson), ``rank_ic`` (Spearman), ``n`` (names
        scored), ``rolling_ic`` and ``rolling_rank_ic`` (mean over the last
        ``window`` scored dates, ``min_periods = max(1, window // 3)``, NaN
        before). Dates that cannot be scored -- fewer than ``min_names``
        names, or a constant prediction or label -- are dropped, as in
        :func:`ml.metrics.daily_ic`. No matured row gives an empty frame with
        these columns, not an error.

    Raises
    ------
    ValueError
        For missing columns, a bad ``window`` or ``min_names``, or what
        :func:`ml.metrics.daily_ic` rejects (missing dates, infinite values).
    """
    window = check_int("window", window, 1)
    min_names = check_int("min_names", min_names, _MIN_IC_NAMES)
    data = _matured(preds, as_of, [prediction, label])
    both = data[prediction].notna() & data[label].notna()
    n = both.groupby(data["date"]).sum().astype(np.int64)
    scorable = data[data["date"].isin(n.index[n >= min_names])]
    if scorable.empty:
        out = pd.DataFrame({c: pd.Series(dtype=float) for c in _IC_COLUMNS})
        out["n"] = out["n"].astype(np.int64)
        out.index = pd.DatetimeIndex([], name="date")
        return out
    out = pd.concat(
        [
            daily_ic(scorable, prediction, label, method="pearson"),
            daily_ic(scorable, prediction, label, method="spearman"),
        ],
        axis=1,
        join="inner",
    )
    out["n"] = n.reindex(out.index).astype(np.int64)
    min_periods = max(1, window // 3)
    out["rolling_ic"] = out["ic"].rolling(window, min_periods=min_periods).mean()
    out["rolling_rank_ic"] = out["rank_ic"].rolling(window, min_periods=min_periods).mean()
    out.index = pd.DatetimeIndex(out.index, name="date")
    return out[list(_IC_COLUMNS)]


def quintile_returns(
    preds: pd.DataFrame,
    as_of: Any,
    *,
    prediction: str = "yhat",
    label: str = "fwd_return",
    quantiles: int = 5,
) -> pd.DataFrame:
    """Mean realised label by prediction quantile, averaged over matured dates.

    On each date the names with both a prediction and a label are bucketed by
    prediction into ``quantiles`` groups (1 = lowest prediction) with the rule
    of :func:`ml.metrics.quantile_spread` (edges on within-date ranks as
    :func:`pandas.qcut`; tied predictions share their average rank and so
    their bucket). The mean label of each bucket is taken per date, then
    averaged over the dates where the bucket is non-empty. Dates with fewer
    than ``quantiles`` names are skipped.

    Parameters
    ----------
    preds : DataFrame
        Long frame with ``date``, ``label_end_date``, ``prediction`` and
        ``label`` columns.
    as_of : date-like
        Only rows with ``label_end_date <= as_of`` are used.
    prediction, label : str
        Bucketing column and realised return.
    quantiles : int, default=5
        Number of buckets, at least 2.

    Returns
    -------
    DataFrame
        Index ``quantile`` (``1..quantiles``, every bucket listed), columns
        ``mean_return`` (NaN for a bucket never filled) and ``n_dates``.
        The top-minus-bottom spread is the **attribute**
        ``out.attrs["top_minus_bottom"]`` (a float: the mean over dates of
        top-bucket minus bottom-bucket mean label, from
        :func:`ml.metrics.quantile_spread`, so only dates where both buckets
        are filled count; NaN when there is none), with
        ``out.attrs["top_minus_bottom_dates"]`` the number of such dates. An
        attribute rather than a row keeps the index integer and every row a
        quantile. Note that ``attrs`` do not survive every pandas operation:
        read them straight from the returned frame.

    Raises
    ------
    ValueError
        For missing columns, ``quantiles < 2``, or what
        :func:`ml.metrics.quantile_spread` rejects (missing dates, inf).
    """
    q = check_int("quantiles", quantiles, 2)
    data = _matured(preds, as_of, [prediction, label])
    data[prediction] = pd.to_numeric(data[prediction]).astype(float)
    data[label] = pd.to_numeric(data[label]).astype(float)
    data = data.dropna(subset=[prediction, label])
    for col in (prediction, label):
        infinite = data.loc[np.isinf(data[col].to_numpy()), "date"]
        if len(infinite):
            raise ValueError(
                f"{col!r} has infinite values on {[iso(d) for d in infinite.unique()[:5]]}"
            )
    n = data.groupby("date")[prediction].transform("size").to_numpy(dtype=np.int64)
    data = data[n >= q]
    n = n[n >= q]
    index = pd.RangeIndex(1, q + 1, name="quantile")
    if data.empty:
        out = pd.DataFrame({"mean_return": np.nan, "n_dates": 0}, index=index)
        out.attrs.update(top_minus_bottom=math.nan, top_minus_bottom_dates=0)
        return out
    # the bucket rule of ml.metrics.quantile_spread, in exact integer arithmetic:
    # bucket = ceil((r - 1) * q / (n - 1)) with r the average rank (1..n), clipped to 1..q
    two_r = (2 * data.groupby("date")[prediction].rank(method="average")).to_numpy()
    num = (two_r.astype(np.int64) - 2) * q
    bucket = np.clip(-(-num // np.maximum(2 * (n - 1), 1)), 1, q)
    per_date = data[label].groupby([data["date"].to_numpy(), bucket]).mean()
    per_date.index.names = ["date", "quantile"]
    grouped = per_date.groupby(level="quantile")
    out = pd.DataFrame({"mean_return": grouped.mean(), "n_dates": grouped.size()}).reindex(index)
    out["n_dates"] = out["n_dates"].fillna(0).astype(np.int64)
    extremes = per_date.unstack("quantile").reindex(columns=[1, q])
    if extremes.notna().all(axis=1).any():
        spread, per_date_spread = quantile_spread(data, prediction, label, n_quantiles=q)
        n_spread = len(per_date_spread)
    else:  # ties left no date with both extreme buckets filled
        spread, n_spread = math.nan, 0
    out.attrs.update(top_minus_bottom=float(spread), top_minus_bottom_dates=int(n_spread))
    return out


def model_drift(
    ic: pd.Series,
    *,
    window: int = 63,
    threshold: float = 0.0,
    max_share: float = 0.6,
    lookback: int = 126,
) -> dict[str, Any]:
    """Flag the model for review when its rolling IC stays below a threshold.

    The rolling mean IC is taken over ``window`` dates (full windows only);
    over the last ``lookback`` of those rolling values, the share that is
    ``< threshold`` is computed. More than ``max_share`` of them means the
    edge has faded for long enough to look at the model -- a single bad month
    does not trigger it.

    Parameters
    ----------
    ic : Series
        Daily IC indexed by date, normally ``ic_history(preds, as_of)["ic"]``,
        which is point in time. NaN dates (not scored) are dropped; the rest
        is put in date order.
    window : int, default=63
        Rolling window in dates.
    threshold : float, default=0.0
        A rolling IC strictly below it counts as a bad day.
    max_share : float, default=0.6
        ``review_model`` is True when ``share_below > max_share``.
    lookback : int, default=126
        Number of recent rolling values judged (126 ~ six months).

    Returns
    -------
    dict
        ``review_model`` (bool), ``share_below`` (float), ``latest_rolling_ic``
        (float, NaN before the first full window), ``days`` (int, the rolling
        values judged) and ``reason`` (readable text). With too little history
        -- fewer than ``window + lookback - 1`` IC dates, so that fewer than
        ``lookback`` full-window rolling values exist -- nothing is judged:
        ``review_model`` is False, ``share_below`` NaN, ``days`` the number of
        rolling values available, and ``reason`` says how much history is
        missing. Never raises for a short series.

    Raises
    ------
    ValueError
        For infinite IC values, duplicated dates, a bad ``window``/``lookback``,
        a ``max_share`` outside [0, 1] or a non-finite ``threshold``.
    """
    window = check_int("window", window, 1)
    lookback = check_int("lookback", lookback, 1)
    if not 0.0 <= max_share <= 1.0:
        raise ValueError(f"max_share must be in [0, 1], got {max_share!r}")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    dup = ic.index[ic.index.duplicated()]
    if len(dup):
        raise ValueError(f"ic has duplicated dates {[str(d) for d in dup.unique()[:5]]}")
    values = pd.to_numeric(ic).astype(float).dropna().sort_index()
    if np.isinf(values.to_numpy()).any():
        bad = values.index[np.isinf(values.to_numpy())]
        raise ValueError(f"ic has infinite values on {[str(d) for d in bad[:5]]}")
    rolling = values.rolling(window, min_periods=window).mean().dropna()
    latest = float(rolling.iloc[-1]) if len(rolling) else math.nan
    needed = window + lookback - 1
    if len(rolling) < lookback:
        return {
            "review_model": False,
            "share_below": math.nan,
            "latest_rolling_ic": latest,
            "days": int(len(rolling)),
            "reason": (
                f"not judged: {len(values)} IC dates, {needed} needed for {lookback} "
                f"rolling {window}-day means ({needed - len(values)} more)"
            ),
        }
    recent = rolling.iloc[-lookback:]
    share = float((recent < threshold).mean())
    review = share > max_share
    verdict = "review the model" if review else "ok"
    return {
        "review_model": bool(review),
        "share_below": share,
        "latest_rolling_ic": latest,
        "days": int(lookback),
        "reason": (
            f"{verdict}: rolling {window}-day IC below {threshold:g} on {share:.1%} of the last "
            f"{lookback} days ({'more' if review else 'not more'} than {max_share:.0%}); "
            f"latest {latest:.4f}"
        ),
    }
