"""Per-date (cross-sectional) transforms of ``fwd_excess_return`` into the model target."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.training.spec import TARGETS


def make_target(
    fwd_excess_return: npt.ArrayLike, dates: npt.ArrayLike, target: str
) -> np.ndarray:
    """Per-date transform of the excess return (the training label).

    * ``"rank"``: the cross-sectional rank (ties averaged) mapped to
      ``[-0.5, 0.5]``: ``(rank - 1) / (n - 1) - 0.5``, 0 for a single name;
    * ``"zscore"``: ``(x - mean) / std`` within the date (``ddof=0``), 0 where
      the date's std is 0;
    * ``"raw"``: unchanged.

    Missing values stay missing and do not count in ``n``.

    Examples
    --------
    >>> d = ["a", "a", "a", "b", "b"]
    >>> make_target([0.3, -0.1, 0.2, 5.0, 1.0], d, "rank").tolist()
    [0.5, -0.5, 0.0, 0.5, -0.5]
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    x = pd.Series(np.asarray(fwd_excess_return, dtype=np.float64))
    if target == "raw":
        return x.to_numpy(copy=True)
    keys = pd.Series(np.asarray(dates))
    grouped = x.groupby(keys, sort=False)
    if target == "rank":
        rank = grouped.rank(method="average")
        n = grouped.transform("count")
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(n > 1, (rank - 1.0) / (n - 1.0) - 0.5, 0.0)
        return np.where(x.isna(), np.nan, out)
    mean = grouped.transform("mean")
    std = grouped.transform("std", ddof=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(std > 0, (x - mean) / std, 0.0)
    return np.where(x.isna(), np.nan, out)
