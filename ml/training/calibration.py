"""The ``prob_up`` calibrator: a logistic regression of ``1{fwd_return > 0}`` on ``yhat``,
fitted on earlier out-of-sample predictions whose labels were known (see :mod:`ml.training.walk_forward`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import expit

from ml.training.panel import _as_datetime_ns

_PROB_CLIP = (0.01, 0.99)


# --------------------------------------------------------------------------- #
# prob_up calibration
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class ProbUpCalibrator:
    """``prob_up = clip(sigmoid(intercept + slope * yhat), 0.01, 0.99)``.

    Built by :func:`fit_prob_up_calibrator`; ``as_of`` is the first date it
    may score (its labels all ended before it).
    """

    intercept: float
    slope: float
    as_of: pd.Timestamp
    n_obs: int
    up_rate: float

    def predict(self, yhat: npt.ArrayLike) -> np.ndarray:
        """Calibrated ``P(fwd_return > 0)`` for each ``yhat`` (NaN stays NaN)."""
        y = np.asarray(yhat, dtype=np.float64)
        prob = expit(self.intercept + self.slope * y)
        return np.clip(prob, *_PROB_CLIP)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for metadata)."""
        return {
            "intercept": self.intercept,
            "slope": self.slope,
            "as_of": self.as_of.isoformat(),
            "n_obs": self.n_obs,
            "up_rate": self.up_rate,
        }


def _calibration_rows(
    yhat: np.ndarray,
    fwd_return: np.ndarray,
    label_end: np.ndarray,
    date: np.ndarray,
    as_of: np.datetime64,
    days: int | None,
) -> np.ndarray:
    """Rows usable at ``as_of``: label known before it, in the last ``days`` such dates."""
    rows = ~np.isnat(label_end) & (label_end < as_of) & ~np.isnan(yhat) & ~np.isnan(fwd_return)
    if days is not None and rows.any():
        known_dates = np.unique(date[rows])
        if known_dates.size > days:
            rows &= date >= known_dates[-days]
    return rows


def _fit_calibrator(
    yhat: np.ndarray, up: np.ndarray, as_of: np.datetime64
) -> ProbUpCalibrator:
    from sklearn.linear_model import LogisticRegression

    mu = float(yhat.mean())
    sd = float(yhat.std())
    if not (sd > 0 and math.isfinite(sd)):
        sd = 1.0
    z = ((yhat - mu) / sd).reshape(-1, 1)
    model = LogisticRegression(C=1.0, solver="lbfgs", tol=1e-10, max_iter=1000)
    model.fit(z, up.astype(np.int8))
    coef = float(model.coef_[0, 0])
    intercept = float(model.intercept_[0])
    return ProbUpCalibrator(
        intercept=intercept - coef * mu / sd,
        slope=coef / sd,
        as_of=pd.Timestamp(as_of),
        n_obs=int(yhat.size),
        up_rate=float(up.mean()),
    )


def fit_prob_up_calibrator(
    history: pd.DataFrame, as_of: Any, min_rows: int = 100, days: int | None = 756
) -> ProbUpCalibrator:
    """Fit the ``prob_up`` calibration on OOS predictions known before ``as_of``.

    Uses the rows of ``history`` with ``label_end_date < as_of`` and both
    ``yhat`` and ``fwd_return`` present -- the predictions whose outcomes were
    known before the date to be scored, so the calibration has no look-ahead --
    dated within the last ``days`` of their dates.
    For live scoring pass the walk-forward predictions
    (:attr:`WalkForwardResult.predictions`) and the date being scored.

    Parameters
    ----------
    history : DataFrame
        Columns ``date``, ``yhat``, ``fwd_return``, ``label_end_date``.
    as_of : date-like
        The first date the calibrator may score.
    min_rows : int, default=100
        Fewest usable rows (``TrainingSpec.calibration_min_rows``).
    days : int or None, default=756
        Window in distinct dates (``TrainingSpec.calibration_days``); ``None``:
        all of the history.

    Raises
    ------
    ValueError
        If columns are missing, fewer than ``min_rows`` rows qualify, or they
        hold only up moves or only down moves.
    """
    missing = [c for c in ("date", "yhat", "fwd_return", "label_end_date") if c not in history.columns]
    if missing:
        raise ValueError(f"history is missing columns {missing}")
    cutoff = np.datetime64(pd.Timestamp(as_of).as_unit("ns").to_datetime64())
    yhat = history["yhat"].to_numpy(dtype=np.float64, na_value=np.nan)
    ret = history["fwd_return"].to_numpy(dtype=np.float64, na_value=np.nan)
    ends = _as_datetime_ns(history["label_end_date"], "label_end_date")
    dates = _as_datetime_ns(history["date"], "date")
    rows = _calibration_rows(yhat, ret, ends, dates, cutoff, days)
    n = int(rows.sum())
    if n < min_rows:
        raise ValueError(
            f"only {n} OOS predictions with labels known before {pd.Timestamp(as_of).date()}; "
            f"prob_up calibration needs at least min_rows={min_rows}"
        )
    up = ret[rows] > 0
    if up.all() or not up.any():
        raise ValueError(
            f"all {n} OOS predictions known before {pd.Timestamp(as_of).date()} went "
            f"{'up' if up.all() else 'down'}; prob_up cannot be calibrated"
        )
    return _fit_calibrator(yhat[rows], up, cutoff)
