"""The portfolio settings (:class:`PortfolioSpec`), the step's result, and their checks."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from ml.common import check_int

if TYPE_CHECKING:
    pass
from ml.portfolio.selection import Selection

OPTIMIZERS: tuple[str, ...] = ("equal_weight", "inverse_vol", "hrp", "min_variance")


REGIMES: tuple[str, ...] = ("risk_on", "neutral", "risk_off")


DEFAULT_EXPOSURE: Mapping[str, float] = {"risk_on": 1.0, "neutral": 0.8, "risk_off": 0.5}


@dataclass(frozen=True)
class PortfolioSpec:
    """How to build the book; every field is validated on construction.

    Attributes
    ----------
    optimizer : {"equal_weight", "inverse_vol", "hrp", "min_variance"}
        Weighting of the selected names (see :func:`optimize_weights`).
    top_n : int
        Names held (TopkDropout's ``topk``), >= 1.
    max_replace : int
        Held names replaced per day at most (TopkDropout's ``n_drop``), >= 0;
        forced exits (held names without a score) are not counted.
    max_weight, max_sector : float
        Caps per name and per sector as fractions of the portfolio, in (0, 1].
    min_names : int
        Fewer selected names make the result invalid; in [1, top_n].
    cov_window : int
        Trailing rows of daily returns used for volatility / covariance, >= 2.
    min_history : int
        Non-NaN returns a candidate needs in the window to be *bought*; in
        [2, cov_window]. A held name with less may be kept.
    exposure : Mapping
        Gross exposure per regime, exactly the keys risk_on / neutral /
        risk_off, each in [0, 1]; the rest is cash. Stored as a copy.
    """

    optimizer: str = "equal_weight"
    top_n: int = 20
    max_replace: int = 2
    max_weight: float = 0.10
    max_sector: float = 0.30
    min_names: int = 10
    cov_window: int = 126
    min_history: int = 40
    # a plain dict (so dataclasses.asdict / json work), copied; left out of the hash
    exposure: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EXPOSURE),
                                          hash=False)

    def __post_init__(self) -> None:
        _check_optimizer(self.optimizer)
        check_int("top_n", self.top_n, 1)
        check_int("max_replace", self.max_replace, 0)
        _check_fraction("max_weight", self.max_weight)
        _check_fraction("max_sector", self.max_sector)
        check_int("min_names", self.min_names, 1)
        if self.min_names > self.top_n:
            raise ValueError(f"min_names ({self.min_names}) must be <= top_n ({self.top_n}): "
                             "no selection could ever be valid")
        check_int("cov_window", self.cov_window, 2)
        check_int("min_history", self.min_history, 2)
        if self.min_history > self.cov_window:
            raise ValueError(f"min_history ({self.min_history}) must be <= cov_window "
                             f"({self.cov_window}): no name could ever be bought")
        object.__setattr__(self, "exposure", _check_exposure(self.exposure))


@dataclass(frozen=True)
class PortfolioResult:
    """Target book of one date from :func:`target_weights`.

    ``weights`` (ticker -> weight, only > 0, sorted by ticker) sum to
    ``1 - cash`` <= ``exposure``. ``valid`` False means "do not trade this
    book"; ``reasons`` says why. ``notes`` are informational (fallbacks, cash
    left by the caps, names kept on short history, solver warnings).
    """

    weights: pd.Series
    cash: float
    exposure: float
    regime: str | None
    optimizer: str
    selection: Selection
    valid: bool
    reasons: tuple[str, ...]
    notes: tuple[str, ...]


def _check_optimizer(optimizer: str) -> None:
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {optimizer!r}; valid optimizers are {list(OPTIMIZERS)}")


def _check_fraction(name: str, value: object) -> None:
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or not 0.0 < value <= 1.0):
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")


def _check_exposure(exposure: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(exposure, Mapping):
        raise ValueError(f"exposure must be a mapping regime -> exposure, got {exposure!r}")
    if set(exposure) != set(REGIMES):
        raise ValueError(f"exposure must have exactly the keys {sorted(REGIMES)}; "
                         f"missing {sorted(set(REGIMES) - set(exposure))}, "
                         f"unexpected {sorted(map(str, set(exposure) - set(REGIMES)))}")
    bad = {k: v for k, v in exposure.items()
           if isinstance(v, bool) or not isinstance(v, numbers.Real)
           or not (math.isfinite(v) and 0.0 <= v <= 1.0)}
    if bad:
        raise ValueError(f"exposure values must be in [0, 1]; bad: {bad}")
    return {k: float(exposure[k]) for k in REGIMES}
