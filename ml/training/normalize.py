"""Per-date (cross-sectional) normalization of the feature matrix.

Each feature is put on the same scale every date, from that date's rows alone, so nothing looks
at another date (DESIGN.md rule 7). The rows of a date are the names scored that date: the
in-universe names, labelled or not -- whether a name has a label is only known later, so it must
not decide another name's normalized value.

* ``rank``: the average rank among the date's non-missing values, mapped to [-0.5, 0.5]
  ((rank - 1) / (n - 1) - 0.5; a date with one value gives 0).
* ``robust_zscore``: (x - median) / (1.4826 * MAD), clipped to [-3, 3]; 0 where the MAD is 0
  (a value at the median of a constant-ish feature).
* ``none``: unchanged.

Missing values stay missing (models handle them: LightGBM natively, the scikit-learn pipelines
impute).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

NORMALIZATIONS: tuple[str, ...] = ("none", "rank", "robust_zscore")
MAD_TO_STD = 1.4826  # the MAD of a normal distribution is 0.6745 of its standard deviation
CLIP = 3.0


def normalize_by_date(X: np.ndarray, date: np.ndarray, method: str) -> np.ndarray:
    """``X`` (rows sorted by ``date``) normalized date by date; a new array of X's dtype.

    Examples
    --------
    >>> X = np.array([[1.0, 5.0], [3.0, np.nan], [2.0, 7.0], [10.0, 1.0]])
    >>> d = np.array(["2020-01-02"] * 3 + ["2020-01-03"], dtype="datetime64[ns]")
    >>> normalize_by_date(X, d, "rank").tolist()
    [[-0.5, -0.5], [0.5, nan], [0.0, 0.5], [0.0, 0.0]]
    """
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {method!r}")
    if method == "none":
        return X
    if X.shape[0] and np.any(date[1:] < date[:-1]):
        raise ValueError("normalize_by_date needs the rows sorted by date")
    out = np.empty_like(X)
    starts = np.flatnonzero(np.r_[True, date[1:] != date[:-1]]) if X.shape[0] else np.array([], dtype=int)
    ends = np.r_[starts[1:], X.shape[0]].astype(int)
    for start, end in zip(starts, ends, strict=True):
        block = X[start:end].astype(np.float64)
        out[start:end] = _rank(block) if method == "rank" else _robust_zscore(block)
    return out


def _rank(block: np.ndarray) -> np.ndarray:
    missing = np.isnan(block)
    ranks = rankdata(np.where(missing, np.inf, block), method="average", axis=0)  # NaN ranked last
    n = (~missing).sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(n > 1, (ranks - 1.0) / (n - 1.0) - 0.5, 0.0)
    return np.where(missing, np.nan, scaled)


def _robust_zscore(block: np.ndarray) -> np.ndarray:
    out = np.full(block.shape, np.nan)
    present = ~np.isnan(block).all(axis=0)
    if not present.any():
        return out
    values = block[:, present]
    median = np.nanmedian(values, axis=0)
    scale = MAD_TO_STD * np.nanmedian(np.abs(values - median), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(scale > 0, (values - median) / scale, 0.0)
    z = np.where(np.isnan(values), np.nan, np.clip(z, -CLIP, CLIP))
    out[:, present] = z
    return out
