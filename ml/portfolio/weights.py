"""Target portfolio weights for one decision date from the day's scores.

Four steps, each a plain function that :func:`target_weights` chains (on the arrays of
:func:`ml.portfolio.arrays.day_weights`, the kernel the backtest calls directly):

1. :func:`select_names` -- which names to hold, with Qlib's ``TopkDropout``
   rule: hold ``top_n`` names and replace at most ``max_replace`` of the held
   ones per day, so the book turns over slowly instead of chasing every change
   in the ranking. A held name that lost its score is a *forced exit*.
2. :func:`optimize_weights` -- how to split the money between them:
   ``equal_weight``, ``inverse_vol``, ``hrp`` (hierarchical risk parity) or
   ``min_variance``; the last two use a Ledoit-Wolf shrunk
   covariance, since a sample covariance of ~20-60 names from 126 days is
   too noisy to invert.
3. :func:`apply_caps` -- no name above ``max_weight`` and no sector above
   ``max_sector``, by water-filling; what cannot be placed stays in cash.
4. Scale by the gross exposure of the day's market regime (default risk_on
   1.0, neutral 0.8, risk_off 0.5); the rest is cash.

**Point in time.** Nothing here looks at a date after the last row of
``returns``: the caller must pass returns *up to and including the decision
date only* (the functions cannot tell which date that is, so they cannot check
it). Only the last ``cov_window`` rows are used.

The result is a :class:`PortfolioResult`; ``valid`` is False (with
``reasons``) when the book should not be traded, e.g. fewer than
``min_names`` names were selected. It is never raised as an error, so a daily
backtest can record the day and go on; configuration errors do raise.

Examples
--------
>>> import pandas as pd
>>> apply_caps(pd.Series({"A": 0.5, "B": 0.3, "C": 0.2}),
...            pd.Series({"A": "x", "B": "y", "C": "z"}), 0.4, 1.0).round(6).tolist()
[0.4, 0.36, 0.24]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ml.portfolio.arrays import day_weights
from ml.portfolio.limits import apply_caps
from ml.portfolio.optimizers import _check_returns
from ml.portfolio.selection import Selection, _check_scores, _eligible, _held_set
from ml.portfolio.spec import PortfolioResult, PortfolioSpec

__all__ = ["apply_caps", "target_weights"]


def target_weights(
    scores: pd.Series,
    held: Iterable[str],
    returns: pd.DataFrame,
    sectors: pd.Series,
    regime: str | None,
    spec: PortfolioSpec,
    eligible: pd.Series | None = None,
) -> PortfolioResult:
    """Target book of one decision date: select, weight, cap, scale by regime.

    Parameters
    ----------
    scores : Series
        ticker -> score of the decision date (NaN = no prediction).
    held : iterable of str
        Tickers held now.
    returns : DataFrame
        Index dates (increasing), columns tickers, daily returns **up to and
        including the decision date only** -- any later row would leak the
        future into the weights. Only the last ``spec.cov_window`` rows are
        used; a name with fewer than ``spec.min_history`` non-NaN values there
        (or no column) cannot be bought, though a held one may be kept.
    sectors : Series
        ticker -> sector, for every selected name.
    regime : str or None
        Market regime of the date, a key of ``spec.exposure``.
    spec : PortfolioSpec
    eligible : Series, optional
        ticker -> bool, further restricts buying (see :func:`select_names`).

    Returns
    -------
    PortfolioResult
        ``valid`` is False, never an exception, when no name has a score
        ("no scored names", weights empty) or fewer than ``spec.min_names``
        names were selected (the capped weights are still filled in for
        inspection; do not trade them).

    Notes
    -----
    The weights of :func:`optimize_weights` go through :func:`apply_caps`,
    then are multiplied by ``spec.exposure[regime]`` and capped again (a
    no-op: scaling down cannot break a cap), so ``max_weight`` and
    ``max_sector`` hold on the final weights. For ``min_variance`` the caps
    are also given to the solver (``max_weights``, sector groups and
    ``"sector <= max_sector"`` constraints), so the optimum is found within
    them; when they cannot hold a full budget (too few names or sectors) or
    the solver fails, the unconstrained optimum is capped instead and a note
    says so. Whatever the caps cannot place is cash.

    Raises
    ------
    ValueError
        When ``regime`` is None or not in ``spec.exposure``, and on invalid
        inputs (unsorted or duplicate dates, inf, a selected name without a
        sector, ...), naming the offending values.
    """
    if not isinstance(spec, PortfolioSpec):
        raise ValueError(f"spec must be a PortfolioSpec, got {type(spec).__name__}")
    data = _check_returns(returns)
    if not (data.index.is_monotonic_increasing and data.index.is_unique):
        raise ValueError("returns index must be unique, increasing dates (the last row is "
                         "the decision date)")
    when = str(data.index[-1]) if len(data) else "the decision date"
    if regime is None:
        raise ValueError(f"no regime for the date {when}: regime is None; "
                         f"expected one of {sorted(spec.exposure)}")
    if regime not in spec.exposure:
        raise ValueError(f"unknown regime {regime!r} for the date {when}; "
                         f"valid labels are {sorted(spec.exposure)}")
    exposure = float(spec.exposure[regime])
    score = _check_scores(scores)
    held_set = _held_set(held)
    allowed = _eligible(eligible, score.index) if eligible is not None else None
    universe = sorted(set(score.index) | held_set)
    tickers = np.asarray(universe, dtype=object)
    window = data.iloc[-spec.cov_window:]
    score_arr = score.reindex(universe).to_numpy(dtype=float)
    history = window.notna().sum().reindex(universe, fill_value=0).to_numpy()
    in_scores = np.isin(tickers, score.index.to_numpy(dtype=object))
    eligible_arr = in_scores if allowed is None else np.array(
        [bool(allowed.get(t, False)) for t in universe], dtype=bool)
    held_arr = np.isin(tickers, list(held_set))
    if not sectors.index.is_unique:
        raise ValueError(f"sectors has duplicate tickers: "
                         f"{sorted(set(sectors.index[sectors.index.duplicated()]))}")
    codes, labels = pd.factorize(sectors.reindex(universe), sort=True)
    values = window.reindex(columns=universe).to_numpy(dtype=float)
    day = day_weights(score_arr, held_arr, history, eligible_arr, lambda idx: values[:, idx],
                      codes, len(labels), exposure, spec, universe)
    picked = day.picked

    def names(idx: np.ndarray) -> list[str]:
        return [universe[i] for i in idx]

    selection = Selection(names=names(picked.names), kept=names(picked.kept), added=names(picked.added),
                          dropped=names(picked.dropped), forced_exits=names(picked.forced))
    keep = day.weights > 0
    weights = pd.Series(day.weights[keep], index=pd.Index(names(day.names[keep]), dtype="str"), dtype=float)
    return PortfolioResult(
        weights=weights, cash=1.0 - float(weights.sum()), exposure=exposure,
        regime=regime, optimizer=spec.optimizer, selection=selection,
        valid=day.valid, reasons=day.reasons, notes=day.notes)
