"""Model health as labels mature: IC history, quantile returns, drift checks.

A prediction made on date ``t`` for a ``k``-day horizon can only be scored
once its label is known, on ``label_end_date`` (``t + k`` trading days). The
functions here are **point in time**: those that take predictions also take an
``as_of`` date and use only the rows with ``label_end_date <= as_of``. A row
whose label ends after ``as_of`` (or whose ``label_end_date`` is missing) is
ignored entirely -- its date, prediction and label cannot change any output --
so a monitoring run for a past date reproduces what was knowable on that date,
whatever the table holds today.

* :func:`ic_history` -- daily IC and rank IC (via :func:`ml.metrics.daily_ic`)
  with rolling means;
* :func:`quintile_returns` -- mean realised return by prediction quantile and
  the top-minus-bottom spread (:func:`ml.metrics.quantile_spread`);
* :func:`model_drift` -- "review the model" when the rolling IC has spent too
  much of the recent past below a threshold;
* :func:`psi` and :func:`feature_drift` -- population stability index of the
  features scored today against the training sample;
* :func:`monitoring_log` -- a JSON-ready record of the above for
  ``monitoring_log.json``.

Expected columns of ``preds``: ``date``, ``ticker``, the prediction (``yhat``),
the label (``fwd_excess_return`` / ``fwd_return``) and ``label_end_date``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.common import check_int, iso, jsonable
from ml.metrics import daily_ic, quantile_spread

__all__ = [
    "DRIFT_STATUSES",
    "feature_drift",
    "ic_history",
    "model_drift",
    "monitoring_log",
    "psi",
    "quintile_returns",
]

#: ``status`` values of :func:`feature_drift`, healthy to alarming; ``unknown``: PSI undefined.
DRIFT_STATUSES: tuple[str, ...] = ("ok", "warn", "alert", "unknown")
_PSI_FLOOR = 1e-6
_MIN_IC_NAMES = 3  # ml.metrics.daily_ic never scores fewer names
_TOP_FEATURES = 10
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


def _1d_finite(values: npt.ArrayLike | pd.Series, name: str) -> np.ndarray:
    """Float array with NaNs dropped; raises on inf or a non-1-D input."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    arr = arr[~np.isnan(arr)]
    if np.isinf(arr).any():
        raise ValueError(f"{name} has {int(np.isinf(arr).sum())} infinite values")
    return arr


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


# --------------------------------------------------------------------------- #
# feature drift
# --------------------------------------------------------------------------- #


def psi(
    expected: npt.ArrayLike | pd.Series,
    actual: npt.ArrayLike | pd.Series,
    bins: int = 10,
) -> float:
    """Population stability index of ``actual`` against ``expected``.

    ``PSI = sum_b (a_b - e_b) * ln(a_b / e_b)`` over bins ``b``, with ``e_b``
    and ``a_b`` the shares of each sample in the bin, floored at 1e-6 (so an
    empty bin costs a finite amount; the floored shares are not renormalised).
    Rule of thumb: < 0.1 stable, 0.1-0.25 some shift, > 0.25 a large shift.

    Bins are quantile bins of ``expected``: the cut points are its quantiles
    at ``1/bins, ..., (bins-1)/bins`` (:func:`numpy.quantile`, linear),
    deduplicated; bins are right-closed, ``(-inf, c_1], (c_1, c_2], ...,
    (c_k, +inf)``, so the outer bins are open-ended and ``actual`` values
    beyond the training range still land in a bin. A cut equal to the maximum
    of ``expected`` would separate nothing and is dropped; if that leaves no
    cut (a heavily tied maximum), the minimum is used, so two distinct
    expected values always give two bins.

    Parameters
    ----------
    expected : array-like
        Reference sample (training data). NaNs are dropped.
    actual : array-like
        Sample to compare (today's data). NaNs are dropped.
    bins : int, default=10
        Number of quantile bins before deduplication, at least 2.

    Returns
    -------
    float
        ``>= 0``; NaN when ``expected`` has fewer than 2 distinct values (no
        bin can be cut) or ``actual`` has no value.

    Raises
    ------
    ValueError
        For infinite values, inputs that are not 1-D, or ``bins < 2``.

    Examples
    --------
    >>> round(psi([0, 0, 1, 1], [0, 1, 1, 1], bins=2), 6)   # 0.25 * ln 3
    0.274653
    """
    bins = check_int("bins", bins, 2)
    e = _1d_finite(expected, "expected")
    a = _1d_finite(actual, "actual")
    if np.unique(e).size < 2 or a.size == 0:
        return math.nan
    cuts = np.unique(np.quantile(e, np.arange(1, bins) / bins))
    cuts = cuts[cuts < e.max()]
    if cuts.size == 0:
        cuts = np.array([e.min()])
    e_share = np.bincount(np.searchsorted(cuts, e, side="left"), minlength=cuts.size + 1) / e.size
    a_share = np.bincount(np.searchsorted(cuts, a, side="left"), minlength=cuts.size + 1) / a.size
    e_share = np.maximum(e_share, _PSI_FLOOR)
    a_share = np.maximum(a_share, _PSI_FLOOR)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def feature_drift(
    train: pd.DataFrame,
    today: pd.DataFrame,
    features: Sequence[str],
    *,
    bins: int = 10,
    warn: float = 0.1,
    alert: float = 0.25,
) -> pd.DataFrame:
    """PSI of each feature between the training sample and today's rows.

    Parameters
    ----------
    train, today : DataFrame
        Feature frames (rows = observations); both must hold every feature.
    features : sequence of str
        Columns to compare (a single string is one feature).
    bins : int, default=10
        Passed to :func:`psi`.
    warn, alert : float, default=0.1, 0.25
        Status thresholds: ``ok`` when ``psi < warn``, ``warn`` when
        ``warn <= psi < alert``, ``alert`` when ``psi >= alert``, and
        ``unknown`` when the PSI is NaN (constant training feature, or no
        value today).

    Returns
    -------
    DataFrame
        Index ``feature``, columns ``psi``, ``status``, ``n_train`` and
        ``n_today`` (non-missing values used), sorted by ``psi`` descending
        with NaN last (ties keep the order of ``features``).

    Raises
    ------
    ValueError
        For missing or duplicated features, non-numeric columns,
        ``0 <= warn <= alert`` violated, or what :func:`psi` rejects.
    """
    names = [features] if isinstance(features, str) else list(features)
    dup = sorted({f for f in names if names.count(f) > 1})
    if dup:
        raise ValueError(f"features listed more than once: {dup}")
    _check_columns(train, names, "train")
    _check_columns(today, names, "today")
    if not 0.0 <= warn <= alert:
        raise ValueError(f"need 0 <= warn <= alert, got warn={warn!r}, alert={alert!r}")
    rows = []
    for name in names:
        x = pd.to_numeric(train[name]).astype(float)
        y = pd.to_numeric(today[name]).astype(float)
        try:
            value = psi(x, y, bins=bins)
        except ValueError as err:
            raise ValueError(f"feature {name!r}: {err}") from err
        status = (
            "unknown" if math.isnan(value)
            else "ok" if value < warn
            else "warn" if value < alert
            else "alert"
        )
        rows.append((name, value, status, int(x.notna().sum()), int(y.notna().sum())))
    out = pd.DataFrame(rows, columns=["feature", "psi", "status", "n_train", "n_today"])
    out = out.astype({"psi": float, "n_train": np.int64, "n_today": np.int64})
    out = out.sort_values("psi", ascending=False, na_position="last", kind="stable")
    return out.set_index("feature")


# --------------------------------------------------------------------------- #
# log record
# --------------------------------------------------------------------------- #


def monitoring_log(
    as_of: Any,
    ic: pd.DataFrame,
    drift: Mapping[str, Any],
    features: pd.DataFrame,
) -> dict[str, Any]:
    """A JSON-serialisable record of one monitoring run (``monitoring_log.json``).

    Parameters
    ----------
    as_of : date-like
        Date of the run.
    ic : DataFrame
        From :func:`ic_history` with the same ``as_of``; its dates must not be
        later than ``as_of`` (raises otherwise: a frame from the future).
    drift : dict
        From :func:`model_drift`.
    features : DataFrame
        From :func:`feature_drift`.

    Returns
    -------
    dict
        Plain ``str``/``int``/``float``/``bool``/``None``/``list``/``dict``
        only -- dates as ISO strings, NaN and inf as ``None`` -- so
        ``json.dumps(..., allow_nan=False)`` succeeds::

            {"as_of": "2024-06-28",
             "ic": {"date", "ic", "rank_ic", "n", "rolling_ic", "rolling_rank_ic",
                    "n_dates"},            # latest scored date; None values if none
             "model_drift": {...},         # the drift dict as given
             "feature_drift": {"counts": {"ok", "warn", "alert", "unknown"},
                               "top": [{"feature", "psi", "status", "n_train",
                                        "n_today"}, ...]}}   # up to 10, highest PSI first

    Raises
    ------
    ValueError
        If ``ic`` lacks the :func:`ic_history` columns or has dates after
        ``as_of``, or ``features`` lacks the :func:`feature_drift` columns.
    """
    cutoff = _as_of(as_of)
    _check_columns(ic, list(_IC_COLUMNS), "ic")
    _check_columns(features, ["psi", "status", "n_train", "n_today"], "features")
    if len(ic):
        dates = pd.DatetimeIndex(pd.to_datetime(ic.index))
        late = dates[dates > cutoff]
        if len(late):
            raise ValueError(
                f"ic has dates after as_of={iso(cutoff)}: {[iso(d) for d in late[:5]]}; "
                "build it with ic_history(preds, as_of)"
            )
        last = ic.iloc[int(dates.argmax())]
        latest: dict[str, Any] = {"date": dates.max(), **{c: last[c] for c in _IC_COLUMNS}}
    else:
        latest = {"date": None, **{c: None for c in _IC_COLUMNS}}
    latest["n_dates"] = len(ic)
    counts = {s: 0 for s in DRIFT_STATUSES}
    for status, count in features["status"].value_counts().items():
        counts[str(status)] = int(count)
    ranked = features[features["psi"].notna()].sort_values("psi", ascending=False, kind="stable")
    top = [
        {"feature": name, **{c: row[c] for c in ("psi", "status", "n_train", "n_today")}}
        for name, row in ranked.head(_TOP_FEATURES).iterrows()
    ]
    return jsonable({
        "as_of": cutoff,
        "ic": latest,
        "model_drift": dict(drift),
        "feature_drift": {"counts": counts, "top": top},
    })
