"""Feature drift: the population stability index (PSI) of each feature, today against its training span."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.common import check_int
from ml.monitoring.performance import _check_columns

#: ``status`` values of :func:`feature_drift`, healthy to alarming; ``unknown``: PSI undefined.
DRIFT_STATUSES: tuple[str, ...] = ("ok", "warn", "alert", "unknown")


_PSI_FLOOR = 1e-6


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
