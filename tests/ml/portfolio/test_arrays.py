"""The numpy optimizers against skfolio's estimators on random inputs (the reference they replace)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf

from ml.portfolio.arrays import covariance, hrp, min_variance, placeable


def _returns(seed: int) -> np.ndarray:
    """126 days of a three-factor market: correlated names with unequal volatility."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 30))
    factors, loadings = rng.normal(0, 0.01, (126, 3)), rng.normal(1, 0.5, (3, n))
    return factors @ loadings + rng.normal(0, 0.01, (126, n)) * rng.uniform(0.5, 3, n)


def _prior():
    from skfolio.moments import LedoitWolf
    from skfolio.prior import EmpiricalPrior

    return EmpiricalPrior(covariance_estimator=LedoitWolf())


@pytest.mark.parametrize("seed", range(10))
def test_ledoit_wolf_and_hrp_are_sklearn_and_skfolio(seed: int) -> None:
    from skfolio import RiskMeasure
    from skfolio.optimization import HierarchicalRiskParity

    x = _returns(seed)
    np.testing.assert_allclose(covariance(x), ledoit_wolf(x)[0], rtol=1e-12, atol=0)
    expected = HierarchicalRiskParity(risk_measure=RiskMeasure.VARIANCE, prior_estimator=_prior()).fit(x).weights_
    np.testing.assert_allclose(hrp(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_min_variance_reaches_skfolio_optimum_with_and_without_caps(seed: int) -> None:
    """skfolio solves with an interior-point method (Clarabel) that stops at a relative gap of about
    1e-8: its variance is within ~1e-6 (relative) of the optimum and, in the flat directions of the
    objective, its weights within ~1e-3. The active-set solution must reach a variance no higher
    than skfolio's (to 1e-12 relative) and weights within 1e-3 of it."""
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    x = _returns(seed)
    cov = covariance(x)
    rng = np.random.default_rng(100 + seed)
    codes = rng.integers(0, 5, x.shape[1])
    max_weight, max_sector = max(0.1, 1.5 / x.shape[1]), 0.45
    cases = [({}, min_variance(cov))]
    if placeable(codes, max_weight, max_sector) >= 1:
        constraints = {"max_weights": max_weight, "groups": [[f"s{c}" for c in codes]],
                       "linear_constraints": [f"s{c} <= {max_sector}" for c in np.unique(codes)]}
        cases.append((constraints, min_variance(cov, codes, max_weight, max_sector)))
    for constraints, ours in cases:
        theirs = MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK, risk_measure=RiskMeasure.VARIANCE,
                          prior_estimator=_prior(), min_weights=0.0, budget=1.0, **constraints).fit(x).weights_
        assert ours @ cov @ ours <= theirs @ cov @ theirs * (1 + 1e-12)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3)
        assert ours.sum() == pytest.approx(1.0) and ours.min() >= 0 and ours.max() <= max_weight + 1e-12 or not constraints
