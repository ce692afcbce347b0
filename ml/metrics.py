"""Evaluation metrics: standard ones from scikit-learn, cross-sectional ones by hand.

The standard regression and probability metrics are thin named wrappers over
:mod:`sklearn.metrics` (same argument order: truth first). The finance metrics
work on a long panel (one row per (date, ticker)) and are computed date by
date, because a trading model is judged on how it *ranks names on a day*, not
on how it fits returns pooled over time:

* :func:`daily_ic` -- the information coefficient: correlation between the
  prediction and the realised target across names on each date;
* :func:`ic_summary` -- mean, dispersion, ICIR, t-statistic and hit rate of a
  daily IC series;
* :func:`quantile_spread` -- top-minus-bottom quantile mean target per date;
* :func:`hit_rate` -- sign agreement;
* :func:`calibration_error` -- expected calibration error of probabilities.

Missing values are never silently turned into a score: the wrappers let
scikit-learn raise, and the panel metrics drop rows whose prediction or target
is missing and then drop the dates that cannot be scored, as each docstring
states.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn import metrics as skm

from ml.common import check_int

__all__ = [
    "auc",
    "brier",
    "calibration_error",
    "daily_ic",
    "hit_rate",
    "ic_summary",
    "log_loss",
    "mae",
    "mse",
    "quantile_spread",
    "r2",
]

_MIN_NAMES_FOR_IC = 3


# --------------------------------------------------------------------------- #
# standard metrics (scikit-learn)
# --------------------------------------------------------------------------- #


def mse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean squared error (:func:`sklearn.metrics.mean_squared_error`)."""
    return float(skm.mean_squared_error(y_true, y_pred))


def mae(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean absolute error (:func:`sklearn.metrics.mean_absolute_error`)."""
    return float(skm.mean_absolute_error(y_true, y_pred))


def r2(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Coefficient of determination (:func:`sklearn.metrics.r2_score`).

    Pooled over all rows; for return targets it is usually slightly negative
    even for useful models, which is why :func:`daily_ic` is the headline.
    """
    return float(skm.r2_score(y_true, y_pred))


def auc(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """Area under the ROC curve (:func:`sklearn.metrics.roc_auc_score`).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary outcomes (e.g. ``fwd_return > 0``).
    y_score : array-like of shape (n,)
        Scores or probabilities of the positive class.

    Raises
    ------
    ValueError
        If ``y_true`` holds a single class: AUC is undefined there and
        scikit-learn would only warn and return NaN.
    """
    classes = np.unique(np.asarray(y_true))
    if classes.size < 2:
        raise ValueError(
            f"AUC needs both classes in y_true, got only {classes.tolist()} ({len(y_true)} rows)"
        )
    return float(skm.roc_auc_score(y_true, y_score))


def log_loss(y_true: npt.ArrayLike, prob: npt.ArrayLike) -> float:
    """Binary cross-entropy (:func:`sklearn.metrics.log_loss`, labels ``[0, 1]``).

    ``prob`` is the probability of outcome 1. The labels are fixed so a
    sample with only one outcome class is still scored.
    """
    return float(skm.log_loss(y_true, prob, labels=[0, 1]))


def brier(y_true: npt.ArrayLike, prob: npt.ArrayLike) -> float:
    """Brier score, mean squared error of probabilities (:func:`sklearn.metrics.brier_score_loss`)."""
    return float(skm.brier_score_loss(y_true, prob))


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


def _check_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the frame; it has {list(df.columns)}")


def _scorable_rows(
    df: pd.DataFrame, pred_col: str, target_col: str, date_col: str
) -> pd.DataFrame:
    """Rows with both prediction and target present, as float; checks dates and infinities."""
    _check_columns(df, [date_col, pred_col, target_col])
    if df[date_col].isna().any():
        n_missing = int(df[date_col].isna().sum())
        raise ValueError(f"{date_col!r} has {n_missing} missing values")
    data = pd.DataFrame(
        {
            "date": df[date_col].to_numpy(),
            "pred": pd.to_numeric(df[pred_col]).astype(float).to_numpy(),
            "target": pd.to_numeric(df[target_col]).astype(float).to_numpy(),
        }
    )
    data = data.dropna(subset=["pred", "target"])
    for col, name in (("pred", pred_col), ("target", target_col)):
        if np.isinf(data[col].to_numpy()).any():
            raise ValueError(f"{name!r} contains infinite values")
    return data


def _as_1d_float(values: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has {int((~np.isfinite(arr)).sum())} missing or infinite values")
    return arr


def _check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has {a.size} values but {name_b} has {b.size}")


# --------------------------------------------------------------------------- #
# cross-sectional metrics
# --------------------------------------------------------------------------- #


def daily_ic(
    df: pd.DataFrame,
    pred_col: str,
    target_col: str,
    date_col: str = "date",
    method: Literal["pearson", "spearman"] = "pearson",
) -> pd.Series:
    """Information coefficient per date.

    For each date, the correlation across names between ``pred_col`` and
    ``target_col``: Pearson, or Spearman (Pearson on within-date ranks, ties
    sharing their average rank, as :func:`scipy.stats.spearmanr`).

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per (date, name).
    pred_col, target_col : str
        Prediction and realised target (e.g. ``yhat``, ``fwd_excess_return``).
    date_col : str, default="date"
        Column that defines the cross-sections.
    method : {"pearson", "spearman"}, default="pearson"
        Correlation type; ``"spearman"`` is the rank IC.

    Returns
    -------
    Series
        IC indexed by date (sorted), named ``"ic"`` (pearson) or ``"rank_ic"``
        (spearman). Rows whose prediction or target is missing are ignored;
        dates left with fewer than 3 names, or on which the prediction or the
        target is constant (zero variance, correlation undefined), are
        **dropped**, so the series can be shorter than the number of dates,
        or empty.

    Raises
    ------
    ValueError
        For an unknown ``method``, missing columns, missing dates or infinite
        values.

    Examples
    --------
    >>> df = pd.DataFrame({"date": [1, 1, 1, 2, 2, 2],
    ...                    "yhat": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
    ...                    "ret": [0.1, 0.3, 0.2, 0.0, 0.0, 0.0]})
    >>> daily_ic(df, "yhat", "ret")   # date 2 has a constant target: dropped
    date
    1    0.5
    Name: ic, dtype: float64
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    data = _scorable_rows(df, pred_col, target_col, date_col)
    keys = data["date"]
    x, y = data["pred"], data["target"]
    by_x, by_y = x.groupby(keys, sort=True), y.groupby(keys, sort=True)
    count = by_x.size()
    constant = (by_x.max() == by_x.min()) | (by_y.max() == by_y.min())
    if method == "spearman":
        x = by_x.rank(method="average")
        y = by_y.rank(method="average")
    dx = x - x.groupby(keys).transform("mean")
    dy = y - y.groupby(keys).transform("mean")
    sxy = (dx * dy).groupby(keys, sort=True).sum()
    sxx = (dx * dx).groupby(keys, sort=True).sum()
    syy = (dy * dy).groupby(keys, sort=True).sum()
    keep = (count >= _MIN_NAMES_FOR_IC) & ~constant
    ic = sxy[keep] / np.sqrt(sxx[keep] * syy[keep])
    ic = ic.clip(-1.0, 1.0)  # rounding can overshoot by an ulp
    ic.index.name = date_col
    return ic.rename("ic" if method == "pearson" else "rank_ic")


def ic_summary(ic: pd.Series | npt.ArrayLike) -> dict[str, float | int]:
    """Summary statistics of a daily IC series.

    Parameters
    ----------
    ic : Series or array-like
        One IC per date, e.g. from :func:`daily_ic` (which already drops the
        dates it cannot score).

    Returns
    -------
    dict
        ``mean``; ``std`` (sample, ``ddof=1``); ``icir = mean / std``;
        ``t_stat = mean / std * sqrt(n_dates)`` (treats dates as independent;
        overlapping multi-day labels make it optimistic); ``n_dates``;
        ``hit_rate``, the share of dates with IC > 0. With one date ``std``,
        ``icir`` and ``t_stat`` are NaN; with ``std == 0`` they are +-inf (or
        NaN if the mean is 0 too).

    Raises
    ------
    ValueError
        If the series is empty or contains NaN/inf (drop such dates
        explicitly first).

    Examples
    --------
    >>> s = ic_summary([0.1, 0.3, -0.1, 0.1])
    >>> round(s["mean"], 6), round(s["std"], 6), round(s["t_stat"], 6), s["hit_rate"]
    (0.1, 0.163299, 1.224745, 0.75)
    """
    values = np.asarray(ic, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"ic must be one-dimensional, got shape {values.shape}")
    if values.size == 0:
        raise ValueError("ic is empty: no date could be scored")
    if not np.isfinite(values).all():
        raise ValueError(
            f"ic has {int((~np.isfinite(values)).sum())} NaN/inf values of {values.size}; "
            "drop the dates that could not be scored first"
        )
    n = values.size
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if n > 1 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        icir = float(np.divide(mean, std))
    return {
        "mean": mean,
        "std": std,
        "icir": icir,
        "t_stat": icir * float(np.sqrt(n)),
        "n_dates": int(n),
        "hit_rate": float((values > 0).mean()),
    }


def hit_rate(pred: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Share of rows where the prediction has the sign of the outcome.

    Signs are compared with :func:`numpy.sign`, so a zero only agrees with a
    zero (a zero prediction against a non-zero outcome is a miss).

    Parameters
    ----------
    pred, actual : array-like of shape (n,)
        Predictions and realised values; no missing values.

    Returns
    -------
    float
        ``mean(sign(pred) == sign(actual))``.

    Raises
    ------
    ValueError
        If the inputs are empty, of different lengths, or have NaN/inf.

    Examples
    --------
    >>> hit_rate([0.5, -0.2, 0.1, 0.0], [1.0, 0.3, 0.2, 0.0])
    0.75
    """
    p = _as_1d_float(pred, "pred")
    a = _as_1d_float(actual, "actual")
    _check_same_length(p, a, "pred", "actual")
    return float((np.sign(p) == np.sign(a)).mean())


def quantile_spread(
    df: pd.DataFrame,
    pred_col: str,
    target_col: str,
    n_quantiles: int = 10,
    date_col: str = "date",
) -> tuple[float, pd.Series]:
    """Mean over dates of (top-quantile mean target - bottom-quantile mean target).

    On each date the names are bucketed by prediction into ``n_quantiles``
    groups, the same way as :func:`pandas.qcut` on the within-date ranks:
    with ``n`` names and rank ``r`` (``1..n``), the bucket edges sit at
    ranks ``1 + (n - 1) * k / n_quantiles``. Tied predictions share their
    average rank and hence their bucket, so the result does not depend on row
    order. The spread is the mean target of the top bucket minus that of the
    bottom bucket: the return of an equal-weighted long-short portfolio,
    before costs.

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per (date, name).
    pred_col, target_col : str
        Prediction and realised target.
    n_quantiles : int, default=10
        Number of buckets (10 = deciles), at least 2.
    date_col : str, default="date"
        Column that defines the cross-sections.

    Returns
    -------
    mean_spread : float
        Mean of the per-date spreads.
    spread : Series
        Spread per date, indexed by date (sorted), named ``"spread"``. Rows
        whose prediction or target is missing are ignored; dates left with
        fewer than ``n_quantiles`` names are **dropped**, as are dates whose
        top or bottom bucket is empty because of ties.

    Raises
    ------
    ValueError
        For ``n_quantiles < 2``, missing columns or dates, infinite values,
        or when no date can be scored.

    Examples
    --------
    >>> df = pd.DataFrame({"date": [1] * 4 + [2] * 4,
    ...                    "yhat": [1.0, 2.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0],
    ...                    "ret": [0.0, 0.1, 0.2, 0.5, 0.1, 0.1, 0.1, 0.3]})
    >>> mean, per_date = quantile_spread(df, "yhat", "ret", n_quantiles=2)
    >>> per_date.round(6).tolist(), round(mean, 6)
    ([0.3, -0.1], 0.1)
    """
    q = check_int("n_quantiles", n_quantiles, 2)
    data = _scorable_rows(df, pred_col, target_col, date_col)
    keys = data["date"]
    n = data.groupby("date")["pred"].transform("size").to_numpy(dtype=np.int64)
    enough = n >= q
    # twice the average rank is an integer, so the bucket is exact integer arithmetic:
    # bucket = ceil((r - 1) * q / (n - 1)) - 1, clipped to [0, q - 1]
    two_r = (2 * data.groupby("date")["pred"].rank(method="average")).to_numpy().astype(np.int64)
    num = (two_r - 2) * q
    den = np.maximum(2 * (n - 1), 1)
    bucket = np.clip(-(-num // den) - 1, 0, q - 1)
    target = data["target"]
    top = target.where(enough & (bucket == q - 1)).groupby(keys, sort=True).mean()
    bottom = target.where(enough & (bucket == 0)).groupby(keys, sort=True).mean()
    spread = (top - bottom).dropna()
    spread.index.name = date_col
    spread = spread.rename("spread")
    if spread.empty:
        raise ValueError(
            f"no date has at least n_quantiles={q} names with both {pred_col!r} and "
            f"{target_col!r} (largest cross-section: {int(n.max()) if n.size else 0})"
        )
    return float(spread.mean()), spread


def calibration_error(
    prob: npt.ArrayLike, outcome: npt.ArrayLike, n_bins: int = 10
) -> float:
    """Expected calibration error (ECE) of predicted probabilities.

    The probabilities are put into ``n_bins`` equal-width bins
    ``[0, 1/n_bins), [1/n_bins, 2/n_bins), ..., [(n_bins-1)/n_bins, 1]`` (the
    last bin includes 1). ECE is the count-weighted mean, over non-empty bins,
    of ``|mean outcome - mean probability|`` in the bin. 0 is perfectly
    calibrated; it says nothing about discrimination (see :func:`auc`).

    Parameters
    ----------
    prob : array-like of shape (n,)
        Predicted probabilities of outcome 1, in ``[0, 1]``.
    outcome : array-like of shape (n,)
        Realised outcomes, 0 or 1 (booleans allowed).
    n_bins : int, default=10
        Number of bins, at least 1.

    Returns
    -------
    float
        ``sum_b (n_b / n) * |mean(outcome_b) - mean(prob_b)|``.

    Raises
    ------
    ValueError
        For empty or mismatched inputs, NaN, probabilities outside ``[0, 1]``,
        outcomes other than 0/1, or ``n_bins < 1``.

    Examples
    --------
    >>> round(calibration_error([0.1, 0.1, 0.8, 0.8], [0, 1, 1, 1], n_bins=2), 6)
    0.3
    """
    check_int("n_bins", n_bins, 1)
    p = _as_1d_float(prob, "prob")
    o = _as_1d_float(outcome, "outcome")
    _check_same_length(p, o, "prob", "outcome")
    if (p < 0).any() or (p > 1).any():
        raise ValueError(
            f"prob must lie in [0, 1], got values from {p.min()} to {p.max()}"
        )
    bad = ~np.isin(o, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"outcome must be 0 or 1, got {np.unique(o[bad])[:5].tolist()}")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(
        np.bincount(bins, weights=o, minlength=n_bins) - np.bincount(bins, weights=p, minlength=n_bins)
    )
    # sum_b (n_b / n) * |sum_o_b / n_b - sum_p_b / n_b| = sum_b |sum_o_b - sum_p_b| / n
    return float(gap[count > 0].sum() / p.size)
