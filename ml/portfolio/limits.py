"""Position and sector limits: caps by water filling (:func:`apply_caps`) and the feasibility of a budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    pass
from ml.portfolio.spec import _check_fraction

_TOL = 1e-12           # water-filling convergence and "at the cap" test


_FEASIBLE_TOL = 1e-9   # slack when checking that the caps can hold a full budget


def _placeable(sector: pd.Series, max_weight: float, max_sector: float) -> float:
    """Most weight the caps allow: per sector min(max_sector, n_names * max_weight)."""
    per_sector = sector.value_counts() * max_weight
    return float(np.minimum(per_sector, max_sector).sum())


def _sector_constraints(sector: pd.Series, max_sector: float
                        ) -> tuple[dict[str, list[str]], list[str]]:
    """skfolio groups and "group <= cap" equations, with group names that cannot clash.

    Sector labels are replaced by ``sector_<i>`` aliases: skfolio parses the
    equations, so labels with spaces or symbols ("Health Care", "S&P") and a
    label equal to a ticker would break it.
    """
    prefix = "sector_"
    while any(str(t).startswith(prefix) for t in sector.index):
        prefix = "_" + prefix
    labels = sorted(sector.unique())
    alias = {label: f"{prefix}{i}" for i, label in enumerate(labels)}
    groups = {ticker: [alias[s]] for ticker, s in sector.items()}
    return groups, [f"{alias[label]} <= {max_sector!r}" for label in labels]


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
    capped = _water_fill(w.to_numpy(), codes, len(uniques), max_weight, max_sector)
    return pd.Series(capped, index=w.index)


def _water_fill(w: np.ndarray, codes: np.ndarray, n_sectors: int,
                max_weight: float, max_sector: float) -> np.ndarray:
    total = float(w.sum())
    x = w.copy()
    for _ in range(len(x) + n_sectors + 2):  # each round freezes a name or a sector
        x, in_sector = _cap(x, codes, n_sectors, max_weight, max_sector)
        deficit = total - float(x.sum())
        free = (x > 0) & (x < max_weight - _TOL) & (in_sector < max_sector - _TOL)
        if deficit <= _TOL or not free.any():
            return x
        x[free] += deficit * x[free] / x[free].sum()
    return _cap(x, codes, n_sectors, max_weight, max_sector)[0]


def _cap(x: np.ndarray, codes: np.ndarray, n_sectors: int,
         max_weight: float, max_sector: float) -> tuple[np.ndarray, np.ndarray]:
    """Names capped, over-cap sectors scaled down; also each name's sector total."""
    x = np.minimum(x, max_weight)
    by_sector = np.bincount(codes, weights=x, minlength=n_sectors)
    over = by_sector > max_sector
    if over.any():
        x = x * np.where(over, max_sector / np.where(over, by_sector, 1.0), 1.0)[codes]
        by_sector = np.where(over, max_sector, by_sector)
    return x, by_sector[codes]


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
