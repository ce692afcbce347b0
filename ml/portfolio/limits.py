"""Position and sector limits: caps by water filling (:func:`apply_caps`, on the kernel of
:mod:`ml.portfolio.arrays`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.portfolio.arrays import water_fill
from ml.portfolio.spec import _check_fraction


def apply_caps(
    weights: pd.Series,
    sectors: pd.Series,
    max_weight: float,
    max_sector: float,
) -> pd.Series:
    """Long-only weights under a per-name and a per-sector cap, by water-filling.

    Repeat until nothing is left to place: cap every name at ``max_weight``;
    scale down the names of every sector above ``max_sector`` proportionally
    so it sits at the cap; give the weight removed so far (input total minus
    current total) to the names still below both caps, in proportion to their
    weights. Names at a cap or in a capped sector never receive more, so the
    loop ends after at most one round per name and sector; when no name can
    receive, the rest stays unallocated (cash). Order-independent and
    deterministic; the total is placed to within 1e-12.

    Parameters
    ----------
    weights : Series
        ticker -> weight (>= 0, no NaN). A zero weight stays zero.
    sectors : Series
        ticker -> sector label, for every ticker of ``weights``.
    max_weight, max_sector : float
        Caps in (0, 1].

    Returns
    -------
    Series
        Same index as ``weights``; each <= max_weight, each sector <=
        max_sector, total <= the input total.

    Raises
    ------
    ValueError
        On NaN / negative / duplicate weights, caps outside (0, 1], or a
        ticker with no sector (the tickers are named).

    Examples
    --------
    >>> import pandas as pd
    >>> apply_caps(pd.Series({"A": 0.5, "B": 0.3, "C": 0.2}),
    ...            pd.Series({"A": "x", "B": "x", "C": "y"}), 1.0, 0.6).round(6).tolist()
    [0.375, 0.225, 0.4]
    """
    _check_fraction("max_weight", max_weight)
    _check_fraction("max_sector", max_sector)
    w = _check_weights(weights)
    sector = _sector_of(w.index, sectors)
    codes, uniques = pd.factorize(sector, sort=True)
    capped = water_fill(w.to_numpy(), codes, len(uniques), max_weight, max_sector)
    return pd.Series(capped, index=w.index)


def _sector_of(names: pd.Index, sectors: pd.Series) -> pd.Series:
    if not sectors.index.is_unique:
        raise ValueError(f"sectors has duplicate tickers: "
                         f"{sorted(set(sectors.index[sectors.index.duplicated()]))}")
    sector = sectors.reindex(names)
    missing = sector.isna()
    if missing.any():
        raise ValueError(f"no sector for tickers {sorted(names[missing.to_numpy()])}")
    return sector


def _check_weights(weights: pd.Series) -> pd.Series:
    w = weights.astype(float)
    bad = w[w.isna() | (w < 0) | np.isinf(w.to_numpy())]
    if len(bad):
        raise ValueError(f"weights must be finite and >= 0 (long only); bad: {bad.to_dict()}")
    if not w.index.is_unique:
        raise ValueError(f"weights has duplicate tickers: "
                         f"{sorted(set(w.index[w.index.duplicated()]))}")
    return w
