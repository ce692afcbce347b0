"""Weight optimizers over the selected names: equal weight, inverse volatility, HRP, minimum variance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.portfolio.arrays import optimize
from ml.portfolio.limits import _sector_of
from ml.portfolio.spec import _check_optimizer


def optimize_weights(returns: pd.DataFrame, optimizer: str) -> pd.Series:
    """Long-only weights summing to 1 for the names in ``returns``.

    Parameters
    ----------
    returns : DataFrame
        Index dates, columns exactly the chosen tickers, values daily returns
        over the trailing window (NaN allowed). Only data up to the decision
        date may be passed (see the module docstring).
    optimizer : {"equal_weight", "inverse_vol", "hrp", "min_variance"}
        ``equal_weight``: ``1 / n``.
        ``inverse_vol``: ``1 / std`` (``ddof=1``, NaN skipped), normalised; a
        name whose std is zero or NaN gets the median vol of the others (all
        of them: equal weight).
        ``hrp``: hierarchical risk parity (variance) on a Ledoit-Wolf shrunk
        covariance, as skfolio's ``HierarchicalRiskParity`` with its defaults
        (see :func:`ml.portfolio.arrays.hrp`).
        ``min_variance``: the minimum-variance weights on the same covariance,
        long only, budget 1, no other constraint (caps are added by
        :func:`target_weights`), by an exact active-set QP
        (:func:`ml.portfolio.arrays.min_variance`; tested against skfolio's ``MeanRisk``).

    Returns
    -------
    Series
        index ``returns.columns``, values >= 0 summing to 1.

    Notes
    -----
    For ``hrp`` and ``min_variance`` NaN returns are filled with 0 before the
    covariance is estimated. A name whose (filled) returns have zero variance
    carries no risk information and breaks both estimators (HRP cannot form a
    correlation; minimum variance would load it as riskless), so it is left
    out of the optimisation and given the median weight of the others, like
    the ``inverse_vol`` rule; if every name is like that, the weights are
    equal. ``min_variance`` weights below 1e-9 are solver noise and set to 0.
    One name always gets weight 1.

    Raises
    ------
    ValueError
        On an unknown optimizer, no columns, duplicate columns, or inf.
    """
    weights, _ = _optimize(returns, optimizer)
    return weights


def _optimize(
    returns: pd.DataFrame,
    optimizer: str,
    caps: tuple[pd.Series, float, float] | None = None,
) -> tuple[pd.Series, list[str]]:
    """Weights and notes; ``caps`` = (sectors, max_weight, max_sector) for min_variance."""
    _check_optimizer(optimizer)
    data = _check_returns(returns)
    names = data.columns
    if len(names) == 0:
        raise ValueError("returns has no columns: no names to weight")
    codes = None
    if caps is not None and optimizer == "min_variance":
        sectors, max_weight, max_sector = caps
        codes = (pd.factorize(_sector_of(names, sectors), sort=True)[0], max_weight, max_sector)
    weights, notes = optimize(data.to_numpy(dtype=float), optimizer, list(names), codes)
    return pd.Series(weights, index=names), notes


def _check_returns(returns: pd.DataFrame) -> pd.DataFrame:
    if not returns.columns.is_unique:
        raise ValueError(f"returns has duplicate tickers: "
                         f"{sorted(set(returns.columns[returns.columns.duplicated()]))}")
    data = returns.astype(float)
    inf = np.isinf(data.to_numpy())
    if inf.any():
        raise ValueError(f"returns contain inf for tickers "
                         f"{sorted(data.columns[inf.any(axis=0)])}")
    return data
