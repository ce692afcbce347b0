"""Weight optimizers over the selected names: equal weight, inverse volatility, HRP, minimum variance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from skfolio.prior import EmpiricalPrior
from ml.portfolio.limits import (
    _FEASIBLE_TOL,
    _placeable,
    _sector_constraints,
    _sector_of,
)
from ml.portfolio.spec import _check_optimizer

_ZERO_VOL = 1e-12      # a daily-return std at or below this carries no risk information


_SOLVER_NOISE = 1e-9   # min_variance weights below this are solver noise, set to 0


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
        ``hrp``: skfolio ``HierarchicalRiskParity`` (variance) on a
        Ledoit-Wolf shrunk covariance.
        ``min_variance``: skfolio ``MeanRisk`` minimising variance on the same
        covariance, long only, budget 1, no other constraint (caps are added
        by :func:`target_weights`).

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
    if len(names) == 1 or optimizer == "equal_weight":
        return pd.Series(1.0 / len(names), index=names), []
    if optimizer == "inverse_vol":
        return _inverse_vol(data), []
    filled = data.fillna(0.0)
    flat = filled.std(ddof=1).fillna(0.0) <= _ZERO_VOL
    notes = []
    if flat.any():
        notes.append(f"{optimizer}: no return variance for {sorted(names[flat])}; "
                     "given the median weight of the others")
    live = filled.loc[:, ~flat]
    if live.shape[1] == 0:
        return pd.Series(1.0 / len(names), index=names), notes
    if live.shape[1] == 1:
        core = pd.Series(1.0, index=live.columns)
    elif optimizer == "hrp":
        core = _hrp(live)
    else:
        core, more = _min_variance(live, caps)
        notes += more
    weights = core.reindex(names)
    weights[flat.to_numpy()] = float(core.median())
    return weights / weights.sum(), notes


def _inverse_vol(data: pd.DataFrame) -> pd.Series:
    vol = data.std(ddof=1)
    ok = vol > _ZERO_VOL
    if not ok.any():
        return pd.Series(1.0 / len(vol), index=vol.index)
    vol = vol.where(ok, float(vol[ok].median()))
    inv = 1.0 / vol
    return inv / inv.sum()


def _prior() -> EmpiricalPrior:
    """Ledoit-Wolf shrunk covariance; skfolio is imported here as it takes seconds."""
    from skfolio.moments import LedoitWolf
    from skfolio.prior import EmpiricalPrior

    return EmpiricalPrior(covariance_estimator=LedoitWolf())


def _hrp(data: pd.DataFrame) -> pd.Series:
    from skfolio import RiskMeasure
    from skfolio.optimization import HierarchicalRiskParity

    model = HierarchicalRiskParity(risk_measure=RiskMeasure.VARIANCE, prior_estimator=_prior())
    return _clean(model.fit(data).weights_, data.columns, "hrp", noise=0.0)


def _min_variance(
    data: pd.DataFrame, caps: tuple[pd.Series, float, float] | None
) -> tuple[pd.Series, list[str]]:
    """Minimum variance, with the caps as native constraints when they are feasible."""
    from skfolio import RiskMeasure
    from skfolio.exceptions import ConvexOptimizationError
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    def solve(**constraints: object) -> pd.Series:
        model = MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK,
                         risk_measure=RiskMeasure.VARIANCE, prior_estimator=_prior(),
                         min_weights=0.0, budget=1.0, **constraints)
        return _clean(model.fit(data).weights_, data.columns, "min_variance",
                      noise=_SOLVER_NOISE)

    if caps is None:
        return solve(), []
    sectors, max_weight, max_sector = caps
    sector = _sector_of(data.columns, sectors)
    placeable = _placeable(sector, max_weight, max_sector)
    if placeable < 1.0 - _FEASIBLE_TOL:
        return solve(), [
            f"min_variance: caps infeasible for a full budget ({data.shape[1]} names in "
            f"{sector.nunique()} sectors can hold at most {placeable:.4f}); "
            "unconstrained solution capped by apply_caps instead"]
    groups, constraints = _sector_constraints(sector, max_sector)
    try:
        return solve(max_weights=max_weight, groups=groups,
                     linear_constraints=constraints), []
    except ConvexOptimizationError as err:
        return solve(), [f"min_variance: constrained solve failed ({err}); "
                         "unconstrained solution capped by apply_caps instead"]


def _clean(raw: np.ndarray, names: pd.Index, optimizer: str, noise: float) -> pd.Series:
    weights = pd.Series(np.asarray(raw, dtype=float), index=names)
    if not np.isfinite(weights.to_numpy()).all() or weights.sum() <= 0:
        raise ValueError(f"{optimizer} returned unusable weights: {weights.to_dict()}")
    weights = weights.where(weights > noise, 0.0)
    return weights / weights.sum()


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
