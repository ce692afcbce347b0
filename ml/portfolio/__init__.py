"""Portfolio: signals -> target weights (selection, optimizers, limits, regime exposure).

Modules by job: ``spec`` (:class:`PortfolioSpec`, :class:`PortfolioResult`), ``selection``
(top-K with a dropout buffer), ``optimizers``, ``limits`` (position and sector caps), ``weights``
(:func:`target_weights`) and ``daily`` (:func:`make_weights`, the trading day's portfolio step).
"""

from ml.portfolio.daily import make_weights
from ml.portfolio.limits import apply_caps
from ml.portfolio.optimizers import optimize_weights
from ml.portfolio.selection import Selection, select_names
from ml.portfolio.spec import (
    DEFAULT_EXPOSURE,
    OPTIMIZERS,
    REGIMES,
    PortfolioResult,
    PortfolioSpec,
)
from ml.portfolio.weights import target_weights

__all__ = [
    "apply_caps",
    "DEFAULT_EXPOSURE",
    "make_weights",
    "optimize_weights",
    "OPTIMIZERS",
    "PortfolioResult",
    "PortfolioSpec",
    "REGIMES",
    "select_names",
    "Selection",
    "target_weights",
]
