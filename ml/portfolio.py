"""Target portfolio weights for one decision date from the day's scores.

Four steps, each a plain function that :func:`target_weights` chains:

1. :func:`select_names` -- which names to hold, with Qlib's ``TopkDropout``
   rule: hold ``top_n`` names and replace at most ``max_replace`` of the held
   ones per day, so the book turns over slowly instead of chasing every change
   in the ranking. A held name that lost its score is a *forced exit*.
2. :func:`optimize_weights` -- how to split the money between them:
   ``equal_weight``, ``inverse_vol``, ``hrp`` (hierarchical risk parity) or
   ``min_variance``; the last two use skfolio with a Ledoit-Wolf shrunk
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

import math
import numbers
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ml.common import check_int

if TYPE_CHECKING:
    from skfolio.prior import EmpiricalPrior

__all__ = [
    "DEFAULT_EXPOSURE",
    "OPTIMIZERS",
    "PortfolioResult",
    "PortfolioSpec",
    "Selection",
    "apply_caps",
    "optimize_weights",
    "select_names",
    "target_weights",
]

OPTIMIZERS: tuple[str, ...] = ("equal_weight", "inverse_vol", "hrp", "min_variance")
REGIMES: tuple[str, ...] = ("risk_on", "neutral", "risk_off")
DEFAULT_EXPOSURE: Mapping[str, float] = {"risk_on": 1.0, "neutral": 0.8, "risk_off": 0.5}

_TOL = 1e-12           # water-filling convergence and "at the cap" test
_ZERO_VOL = 1e-12      # a daily-return std at or below this carries no risk information
_SOLVER_NOISE = 1e-9   # min_variance weights below this are solver noise, set to 0
_FEASIBLE_TOL = 1e-9   # slack when checking that the caps can hold a full budget


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
class Selection:
    """Names chosen by :func:`select_names`; every list is sorted by ticker.

    ``names = kept + added``. ``dropped`` are held names sold on rank (the
    TopkDropout sells, plus the worst kept names when more than ``top_n`` were
    held); ``forced_exits`` are held names without a score. The two are
    disjoint, and ``kept + dropped + forced_exits`` is the held book.
    """

    names: list[str]
    kept: list[str]
    added: list[str]
    dropped: list[str]
    forced_exits: list[str]


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


def select_names(
    scores: pd.Series,
    held: Iterable[str],
    top_n: int,
    max_replace: int,
    eligible: pd.Series | None = None,
) -> Selection:
    """Names to hold tomorrow with Qlib's TopkDropout rule.

    Parameters
    ----------
    scores : Series
        ticker -> score, higher is better; NaN (or absent) = no prediction.
    held : iterable of str
        Tickers held now.
    top_n : int
        Names to hold (>= 1).
    max_replace : int
        Held names that may be sold on rank per day (>= 0).
    eligible : Series, optional
        ticker -> bool, whether a name may be *bought*; a ticker absent or NaN
        here is not eligible. ``None``: every scored name is. Held names are
        never sold for being ineligible.

    Returns
    -------
    Selection

    Notes
    -----
    With ``h`` = held names that still have a score (the others are forced
    exits, not counted in ``max_replace``):

    * ``today`` = the best ``max_replace + top_n - h`` eligible non-held names;
    * ``comb`` = held names with a score and ``today``, best first; the held
      names among the last ``max_replace`` of ``comb`` are sold -- but only
      from places after the first ``top_n`` (see below);
    * the best ``n_sold + top_n - h`` of ``today`` are bought.

    So a held name is only sold for a better candidate, at most
    ``max_replace`` a day, and an empty book takes the ``top_n`` best eligible
    names. If more than ``top_n`` names are held (``top_n`` was lowered) the
    worst kept ones are also dropped, so the result never exceeds ``top_n``.
    Ties in score are broken by ticker (the smaller ticker ranks first).

    One departure from Qlib: when there are fewer eligible candidates than
    ``max_replace + top_n - h``, ``comb`` is shorter than ``top_n +
    max_replace`` and Qlib would sell held names that still rank in its top
    ``top_n`` (leaving the book short for no better name). Here those are
    kept. With enough candidates ``comb`` has ``top_n + max_replace`` names
    and the two rules are identical.

    Raises
    ------
    ValueError
        On duplicate tickers or inf in ``scores``, a string for ``held``,
        invalid ``top_n`` / ``max_replace``, or non-boolean ``eligible``.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.Series({"A": 0.9, "B": 0.1, "C": 0.5, "D": 0.8, "E": 0.7})
    >>> sel = select_names(s, ["A", "B", "C"], top_n=3, max_replace=1)
    >>> sel.names, sel.dropped, sel.added
    (['A', 'C', 'D'], ['B'], ['D'])
    """
    check_int("top_n", top_n, 1)
    check_int("max_replace", max_replace, 0)
    score = _check_scores(scores).dropna()
    held_set = _held_set(held)
    value = score.to_dict()
    can_buy = _eligible(eligible, score.index)

    forced = sorted(t for t in held_set if t not in value)
    held_ok = sorted(t for t in held_set if t in value)
    n_held = len(held_ok)
    candidates = _best_first(value, [t for t in score.index
                                     if t not in held_set and can_buy[t]])
    today = candidates[: max(0, max_replace + top_n - n_held)]
    comb = _best_first(value, held_ok + today)
    # the last max_replace places, but never one of the first top_n: see Notes
    tail = set(comb[max(top_n, len(comb) - max_replace):])
    sold = [t for t in held_ok if t in tail]
    bought = today[: max(0, len(sold) + top_n - n_held)]
    kept = _best_first(value, [t for t in held_ok if t not in tail])
    if len(kept) > top_n:  # more held than top_n: nothing is bought, trim the worst
        sold += kept[top_n:]
        kept = kept[:top_n]
    return Selection(
        names=sorted(kept + bought),
        kept=sorted(kept),
        added=sorted(bought),
        dropped=sorted(sold),
        forced_exits=forced,
    )


def _best_first(value: Mapping[str, float], names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda t: (-value[t], t))


def _held_set(held: Iterable[str]) -> set[str]:
    if isinstance(held, str):
        raise ValueError(f"held must be an iterable of tickers, not the string {held!r}")
    return set(held)


def _eligible(eligible: pd.Series | None, names: pd.Index) -> dict[str, bool]:
    if eligible is None:
        return dict.fromkeys(names, True)
    flags = eligible.dropna()
    bad = flags[~flags.map(lambda v: isinstance(v, (bool, np.bool_)))]
    if len(bad):
        raise ValueError(f"eligible must hold booleans; got {bad.to_dict()}")
    if not flags.index.is_unique:
        raise ValueError(f"eligible has duplicate tickers: "
                         f"{sorted(set(flags.index[flags.index.duplicated()]))}")
    return flags.reindex(names, fill_value=False).astype(bool).to_dict()


def _check_scores(scores: pd.Series) -> pd.Series:
    score = scores.astype(float)
    if not score.index.is_unique:
        raise ValueError(f"scores has duplicate tickers: "
                         f"{sorted(set(score.index[score.index.duplicated()]))}")
    inf = score[np.isinf(score.to_numpy())]
    if len(inf):
        raise ValueError(f"scores must be finite or NaN; inf for {inf.to_dict()}")
    return score


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
    window = data.iloc[-spec.cov_window:]
    history = window.notna().sum().reindex(score.index, fill_value=0)
    can_buy = history >= spec.min_history
    if eligible is not None:
        allowed = _eligible(eligible, score.index)
        can_buy &= pd.Series([allowed[t] for t in score.index], index=score.index, dtype=bool)
    selection = select_names(score, held, spec.top_n, spec.max_replace, can_buy)

    def result(weights: pd.Series, reasons: list[str], notes: list[str]) -> PortfolioResult:
        weights = weights[weights > 0].sort_index()
        return PortfolioResult(
            weights=weights, cash=1.0 - float(weights.sum()), exposure=exposure,
            regime=regime, optimizer=spec.optimizer, selection=selection,
            valid=not reasons, reasons=tuple(reasons), notes=tuple(notes))

    notes = []
    if selection.forced_exits:
        notes.append(f"forced exits (held, no score): {selection.forced_exits}")
    if score.notna().sum() == 0:
        return result(pd.Series(dtype=float), ["no scored names"], notes)
    names = selection.names
    reasons = []
    if len(names) < spec.min_names:
        reasons.append(f"{len(names)} names < min_names {spec.min_names}")
    if not names:
        return result(pd.Series(dtype=float), reasons, notes)
    short = sorted(t for t in selection.kept if history[t] < spec.min_history)
    if short:
        notes.append(f"held names kept with < {spec.min_history} returns in the window: {short}")

    _sector_of(pd.Index(names), sectors)  # fail before optimising
    caps = (sectors, spec.max_weight, spec.max_sector)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw, more = _optimize(window.reindex(columns=names), spec.optimizer,
                              caps if spec.optimizer == "min_variance" else None)
    notes += more
    notes += sorted({f"{spec.optimizer} {w.category.__name__}: {w.message}" for w in caught})
    capped = apply_caps(raw, sectors, spec.max_weight, spec.max_sector)
    unplaced = 1.0 - float(capped.sum())
    if unplaced > _FEASIBLE_TOL:
        notes.append(f"caps left {unplaced:.4f} of the book unallocated (cash) before the "
                     f"regime exposure {exposure}")
    final = apply_caps(capped * exposure, sectors, spec.max_weight, spec.max_sector)
    return result(final, reasons, notes)


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
