"""Champion selection from a model x optimizer comparison, and the Deflated Sharpe Ratio.

* :func:`select_champion` -- drop the candidates failing a hard threshold, rank the rest
  by a weighted score of min-max normalised metrics; when nobody passes, the current
  champion stays (an answer, not an error).
* :func:`deflated_sharpe_ratio` -- probability that the winner's Sharpe ratio is real
  given how many candidates were tried and its fat tails (Bailey & López de Prado, "The
  Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and
  Non-Normality", Journal of Portfolio Management 40(5), 2014).

Units: the table holds annualised ``sharpe`` and ``calmar``, ``max_drawdown`` as a
negative fraction (-0.15 = -15 %) and ``turnover`` as mean daily one-way turnover, a
fraction of the book (0.061 = 6.1 % of the book traded a day). The DSR functions take
per-observation Sharpe ratios: annualised Sharpe / sqrt(periods per year), annualised
Sharpe *variance* / periods per year.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.common import check_int

__all__ = [
    "DEFAULT_WEIGHTS", "EULER_GAMMA", "REQUIRED_COLUMNS",
    "DeflatedSharpe", "Selection", "SelectionSpec",
    "deflated_sharpe_ratio", "deflated_sharpe_ratio_from_stats", "expected_max_sharpe",
    "probabilistic_sharpe_ratio", "regime_consistency", "score_candidates", "select_champion",
]

EULER_GAMMA = 0.5772156649015329
_HIGHER_IS_BETTER = {  # scored metric -> direction
    "sharpe": True, "max_drawdown": True, "calmar": True, "turnover": False, "regime_consistency": True,
}
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"sharpe": 0.30, "max_drawdown": 0.25, "calmar": 0.20, "turnover": 0.15, "regime_consistency": 0.10}
)
REQUIRED_COLUMNS: tuple[str, ...] = ("model", "optimizer", *_HIGHER_IS_BETTER)
# SelectionSpec attribute -> (column, is a lower bound, decimals shown, shown as percent)
_THRESHOLDS = {
    "min_sharpe": ("sharpe", True, 2, False),
    "min_max_drawdown": ("max_drawdown", True, 1, True),
    "min_calmar": ("calmar", True, 2, False),
    "max_turnover": ("turnover", False, 3, False),
}
_NORMAL = NormalDist()


@dataclass(frozen=True)
class SelectionSpec:
    """Weights and hard thresholds for :func:`select_champion`.

    Parameters
    ----------
    weights : mapping of metric -> weight, default :data:`DEFAULT_WEIGHTS`
        Among sharpe, max_drawdown, calmar, turnover, regime_consistency (a metric
        left out weighs 0); weights >= 0, divided by their sum, which must be > 0.
    min_sharpe, min_max_drawdown, min_calmar : float or None, defaults 1.0, -0.20, 0.5
        The annualised Sharpe, the max drawdown (negative fraction: -0.15 passes
        -0.20, -0.25 fails) and the Calmar ratio must be ``>=`` these.
    max_turnover : float or None, default=0.40
        Mean daily one-way turnover (fraction of the book) must be ``<=`` this.
        ``None`` switches a threshold off.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS), hash=False)
    min_sharpe: float | None = 1.0
    min_max_drawdown: float | None = -0.20
    min_calmar: float | None = 0.5
    max_turnover: float | None = 0.40

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(_HIGHER_IS_BETTER), key=str)
        if unknown:
            raise ValueError(f"unknown metrics in weights: {unknown}; known: {list(_HIGHER_IS_BETTER)}")
        bad = {k: w for k, w in self.weights.items() if not _finite(w) or w < 0}
        if bad:
            raise ValueError(f"weights must be finite numbers >= 0, got {bad}")
        if sum(self.weights.values()) <= 0:
            raise ValueError(f"weights must sum to more than 0, got {dict(self.weights)}")
        object.__setattr__(self, "weights", MappingProxyType({k: float(w) for k, w in self.weights.items()}))
        for name in _THRESHOLDS:
            value = getattr(self, name)
            if value is not None and not _finite(value):
                raise ValueError(f"{name} must be a finite number or None, got {value!r}")


@dataclass(frozen=True, eq=False)
class Selection:
    """Outcome of :func:`select_champion`: the scored ``table`` (ranked rows, then failing
    rows by Sharpe), the ``winner`` row as a dict (None when nobody passes), a ``reason``."""

    table: pd.DataFrame
    winner: dict[str, Any] | None
    reason: str


@dataclass(frozen=True)
class DeflatedSharpe:
    """Result of :func:`deflated_sharpe_ratio`; Sharpe ratios per observation, not annualised."""

    dsr: float
    sharpe: float
    benchmark_sharpe: float  # expected maximum Sharpe of n_trials zero-skill trials
    n_obs: int
    skew: float
    kurtosis: float  # plain, 3 for normal returns
    n_trials: int


# --- helpers ---


def _finite(x: object) -> bool:
    """A real, finite number (bools excluded)."""
    real = isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))
    return real and math.isfinite(x)  # type: ignore[arg-type]


def _fmt(x: float, decimals: int, percent: bool) -> str:
    return f"{x * 100:.{decimals}f}%" if percent else f"{x:.{decimals}f}"


def _shown(value: float, limit: float, decimals: int, percent: bool) -> tuple[str, str]:
    """``value`` and ``limit`` as text, with enough decimals to tell them apart."""
    for d in range(decimals, decimals + 6):
        a, b = _fmt(value, d, percent), _fmt(limit, d, percent)
        if a != b:
            break
    return a, b


def _failures(row: pd.Series, spec: SelectionSpec) -> str:
    """The failed thresholds of one row of metrics, '; '-separated ('' when it passes)."""
    out = []
    for attr, (col, lower, decimals, percent) in _THRESHOLDS.items():
        limit, value = getattr(spec, attr), row[col]
        if limit is None:
            continue
        if math.isnan(value):
            out.append(f"{col} is NaN (needs {'>=' if lower else '<='} {_fmt(limit, decimals, percent)})")
        elif (value < limit) if lower else (value > limit):
            shown_value, shown_limit = _shown(value, limit, decimals, percent)
            out.append(f"{col} {shown_value} {'<' if lower else '>'} {shown_limit}")
    return "; ".join(out)


def _normalised(values: pd.Series, higher_is_better: bool) -> pd.Series:
    """Min-max to [0, 1], 1 = best; 1.0 for all when all equal; NaN -> 0."""
    lo, hi = values.min(), values.max()
    if hi == lo:  # also a single value; all-NaN gives NaN != NaN and falls through to 0
        return values.notna().astype(float)
    scaled = (values - lo) / (hi - lo) if higher_is_better else (hi - values) / (hi - lo)
    return scaled.fillna(0.0)


def _metrics(table: pd.DataFrame) -> pd.DataFrame:
    """The checked, float metric columns of a comparison table."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"comparison table is missing columns {missing}; it has {list(table.columns)}")
    if table.empty:
        raise ValueError("comparison table is empty: no candidate to select from")
    dup = table.duplicated(["model", "optimizer"], keep=False)
    if dup.any():
        pairs = sorted({f"{m} x {o}" for m, o in table.loc[dup, ["model", "optimizer"]].itertuples(index=False)})
        raise ValueError(f"comparison table has duplicated (model, optimizer) rows: {pairs}")
    metrics = table[list(_HIGHER_IS_BETTER)].apply(pd.to_numeric).astype(float)  # raises on text
    infinite = [c for c in metrics.columns if np.isinf(metrics[c].to_numpy()).any()]
    if infinite:
        raise ValueError(f"metric columns {infinite} have infinite values; use NaN for an undefined metric")
    return metrics


# --- selection ---


def regime_consistency(per_regime_sharpe: Mapping[str, float]) -> float:
    """The worst Sharpe ratio over the regimes where it is defined; higher is better.

    A strategy is only as consistent as its worst regime: a fine average made in one
    regime and lost in another is a bet on the regime mix, so we reward the minimum,
    not the mean. NaN (or infinite) values are skipped; NaN when none is finite.

    Examples
    --------
    >>> regime_consistency({"risk_on": 1.8, "neutral": 0.9, "risk_off": float("nan")})
    0.9
    """
    finite = [float(v) for v in per_regime_sharpe.values() if v is not None and math.isfinite(v)]
    return min(finite) if finite else math.nan


def score_candidates(table: pd.DataFrame, spec: SelectionSpec | None = None) -> pd.DataFrame:
    """Apply the thresholds of ``spec`` (default :class:`SelectionSpec`) and score the passing rows.

    Parameters
    ----------
    table : DataFrame
        One row per (model, optimizer) with at least :data:`REQUIRED_COLUMNS`;
        metrics may be NaN (units in the module docstring).
    spec : SelectionSpec, optional

    Returns
    -------
    DataFrame
        A copy, same row order, plus ``passes``; ``failed`` (each failed threshold
        with value and limit, e.g. ``"sharpe 0.84 < 1.00"``; a NaN metric fails;
        ``""`` when passing); ``score`` = sum(weight x normalised) / sum(weights),
        each metric min-max normalised over the *passing* rows (1 = best of them,
        1 for all when equal, 0 when NaN), NaN when failing; ``rank`` (Int64, 1 =
        best, NA when failing; equal scores by higher Sharpe, then names).

    Raises
    ------
    ValueError
        Missing columns, empty table, duplicated (model, optimizer), infinite metrics.
    """
    spec = spec or SelectionSpec()
    metrics = _metrics(table)
    out = table.copy()
    out["failed"] = [_failures(row, spec) for _, row in metrics.iterrows()]
    out["passes"] = out["failed"] == ""
    passing = metrics[out["passes"]]
    score = pd.Series(0.0, index=passing.index)
    for metric, weight in spec.weights.items():
        score += weight * _normalised(passing[metric], _HIGHER_IS_BETTER[metric])
    out["score"] = (score / sum(spec.weights.values())).reindex(out.index)
    ordered = _order(out["score"].round(12), metrics["sharpe"], out)
    order = ordered[out.loc[ordered, "passes"].to_numpy()]  # the passing rows, in that order
    out["rank"] = pd.Series(range(1, len(order) + 1), index=order).reindex(out.index).astype("Int64")
    return out


def _order(first: pd.Series, sharpe: pd.Series, table: pd.DataFrame) -> pd.Index:
    """Index sorted by ``first`` descending, then Sharpe descending, then model and optimizer names."""
    key = pd.DataFrame({"first": first, "sharpe": sharpe, "model": table["model"].astype(str),
                        "optimizer": table["optimizer"].astype(str)})
    return key.sort_values(list(key.columns), ascending=[False, False, True, True],
                           na_position="last", kind="mergesort").index


def select_champion(table: pd.DataFrame, spec: SelectionSpec | None = None) -> Selection:
    """Pick the best passing (model, optimizer) row, scored by :func:`score_candidates`.

    When no row passes, ``winner`` is None and ``reason`` says the current champion
    stays, naming the row with the best Sharpe ratio and what it failed. ValueError
    only for a malformed table.

    Examples
    --------
    >>> t = pd.DataFrame({"model": ["lgbm", "ridge"], "optimizer": ["inverse_vol", "equal"],
    ...                   "sharpe": [1.3, 0.8], "max_drawdown": [-0.14, -0.1], "calmar": [1.1, 0.9],
    ...                   "turnover": [0.058, 0.03], "regime_consistency": [0.4, 0.2]})
    >>> print(select_champion(t).reason)
    lgbm x inverse_vol: score 1.00, best of 1 passing of 2 (sharpe 1.30, max drawdown -14.0%, calmar 1.10, turnover 0.058/day)
    """
    scored = score_candidates(table, spec)
    sharpe = pd.to_numeric(scored["sharpe"]).astype(float)
    ranked = scored.loc[_order(-scored["rank"].astype(float), sharpe, scored)]
    n, n_pass, top = len(ranked), int(ranked["passes"].sum()), ranked.iloc[0]
    name = f"{top['model']} x {top['optimizer']}"
    if n_pass == 0:
        reason = (f"no candidate passes the thresholds ({n} evaluated); the current champion stays. "
                  f"Closest: {name} (sharpe {float(top['sharpe']):.2f}) fails {top['failed']}")
        return Selection(ranked, None, reason)
    reason = (f"{name}: score {top['score']:.2f}, best of {n_pass} passing of {n} "
              f"(sharpe {float(top['sharpe']):.2f}, max drawdown {float(top['max_drawdown']):.1%}, "
              f"calmar {float(top['calmar']):.2f}, turnover {float(top['turnover']):.3f}/day)")
    return Selection(ranked, top.to_dict(), reason)


# --- Deflated Sharpe Ratio (per-observation Sharpe units throughout) ---


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark_sharpe: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """Probability that the true Sharpe ratio exceeds ``benchmark_sharpe`` (PSR).

    ``Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2))`` with
    per-observation Sharpe ratios and the plain (non-excess) ``kurtosis``, 3 when normal.
    ValueError for non-finite inputs, ``n_obs < 2``, or a variance term <= 0, which no
    real distribution gives (all have kurtosis >= 1 + skew**2).
    """
    for name, v in {"sharpe": sharpe, "benchmark_sharpe": benchmark_sharpe, "skew": skew,
                    "kurtosis": kurtosis}.items():
        if not _finite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    n_obs = check_int("n_obs", n_obs, 2)
    term = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if term <= 0:
        raise ValueError(
            f"PSR variance term 1 - skew*SR + (kurtosis-1)/4*SR^2 = {term:.6g} is <= 0 (sharpe={sharpe}, "
            f"skew={skew}, kurtosis={kurtosis}): no distribution has these moments; kurtosis must be the "
            f"plain (not excess) kurtosis, at least 1 + skew**2"
        )
    return _NORMAL.cdf((sharpe - benchmark_sharpe) * math.sqrt(n_obs - 1) / math.sqrt(term))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` independent zero-skill trials.

    ``sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e)))``, ``g`` the
    Euler-Mascheroni constant, ``V`` the variance of the trials' per-observation
    Sharpe ratios. A single trial has nothing to deflate: 0.
    """
    n_trials = check_int("n_trials", n_trials, 1)
    if n_trials == 1:  # whatever the variance (undefined for one trial)
        return 0.0
    if not _finite(sharpe_variance) or sharpe_variance < 0:
        raise ValueError(f"sharpe_variance must be a finite number >= 0, got {sharpe_variance!r}")
    inv = _NORMAL.inv_cdf
    z = (1 - EULER_GAMMA) * inv(1 - 1 / n_trials) + EULER_GAMMA * inv(1 - 1 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * z


def deflated_sharpe_ratio_from_stats(
    sharpe: float, n_obs: int, skew: float, kurtosis: float, n_trials: int, sharpe_variance: float
) -> DeflatedSharpe:
    """DSR from summary statistics: the PSR against :func:`expected_max_sharpe`.

    ``sharpe`` per observation; ``kurtosis`` plain (3 when normal); ``sharpe_variance``
    the variance of the per-observation Sharpe ratios of all ``n_trials`` candidates
    tried (an annualised variance divided by periods per year).
    """
    benchmark = expected_max_sharpe(n_trials, sharpe_variance)
    dsr = probabilistic_sharpe_ratio(sharpe, benchmark, n_obs, skew, kurtosis)
    return DeflatedSharpe(dsr, float(sharpe), benchmark, int(n_obs), float(skew), float(kurtosis), int(n_trials))


def deflated_sharpe_ratio(returns: npt.ArrayLike, n_trials: int, sharpe_variance: float) -> DeflatedSharpe:
    """DSR of a series of per-period returns, e.g. the winner's daily net returns.

    Sharpe ratio ``mean / std`` with ``ddof=1`` (as :mod:`ml.backtest.performance` before
    annualising). Skewness and kurtosis are the population moments ``m3 / m2**1.5``
    and ``m4 / m2**2`` (central moments with divisor T, plain kurtosis; what
    ``scipy.stats.skew`` and ``kurtosis(fisher=False)`` return by default), not
    pandas' bias-corrected ``skew`` and excess ``kurt``. ValueError for NaN/inf,
    fewer than 2 or constant returns, and the checks of the functions above.
    """
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"returns must be a 1-D series of at least 2 values, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError(f"returns have {int((~np.isfinite(r)).sum())} NaN or infinite values")
    if r.max() == r.min():
        raise ValueError("returns are constant: the Sharpe ratio and higher moments are undefined")
    dev = r - r.mean()
    m2 = float(np.mean(dev**2))
    skew, kurtosis = float(np.mean(dev**3)) / m2**1.5, float(np.mean(dev**4)) / m2**2
    sharpe = float(r.mean() / r.std(ddof=1))
    return deflated_sharpe_ratio_from_stats(sharpe, r.size, skew, kurtosis, n_trials, sharpe_variance)
