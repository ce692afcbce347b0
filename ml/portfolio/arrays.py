"""The portfolio step on arrays: one date's selection, weights, caps and exposure.

Tickers are integer positions in one fixed universe, sorted by ticker, so "ties broken by
ticker" is "ties broken by position". :func:`day_weights` is the kernel both paths call:
:func:`ml.portfolio.target_weights` (the daily run) converts its Series to arrays over the
names it is given, and :func:`ml.backtest.run_backtest` slices precomputed date x ticker
panels. The same inputs give the same floats on both paths.

The optimizers are numpy/scipy: ``hrp`` is skfolio's ``HierarchicalRiskParity`` (variance,
Pearson distance, Ward linkage with optimal leaf ordering, Ledoit-Wolf covariance) written
out, and ``min_variance`` minimises ``w' S w`` on the same covariance with an exact
active-set QP (long only, budget 1, name and sector caps as constraints). HRP agrees with
skfolio to 1e-12; min variance reaches a variance at most skfolio's (whose interior-point
solver stops at its tolerance) and weights within 1e-3 of it
(tests/ml/portfolio/test_arrays.py). They cost about a millisecond a fit where skfolio's
estimators cost 20-60 ms (bench/README.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ml import adapt

if TYPE_CHECKING:  # annotation only: spec imports selection, which imports this module
    from ml.portfolio.spec import PortfolioSpec

__all__ = ["DayWeights", "day_weights", "optimize", "select", "water_fill"]

_TOL = 1e-12           # water-filling convergence and "at the cap" test
_FEASIBLE_TOL = 1e-9   # slack when checking that the caps can hold a full budget
_ZERO_VOL = 1e-12      # a daily-return std at or below this carries no risk information
_SOLVER_NOISE = 1e-9   # min_variance weights below this are solver noise, set to 0


# --------------------------------------------------------------------------- selection

@dataclass(frozen=True)
class Picked:
    """TopkDropout's choice as sorted position arrays (``names = kept + added``)."""

    names: np.ndarray
    kept: np.ndarray
    added: np.ndarray
    dropped: np.ndarray
    forced: np.ndarray


def select(score: np.ndarray, held: np.ndarray, can_buy: np.ndarray, top_n: int,
           max_replace: int) -> Picked:
    """TopkDropout (see :func:`ml.portfolio.select_names`) on arrays over the universe.

    ``score`` NaN = no prediction; ``held`` and ``can_buy`` boolean masks.
    """
    scored = ~np.isnan(score)
    forced = np.flatnonzero(held & ~scored)
    pos = np.flatnonzero(scored)
    order = pos[np.lexsort((pos, -score[pos]))]          # best first, ties by ticker
    held_o = held[order]
    n_held = int(held_o.sum())
    cand = order[~held_o & can_buy[order]]
    today = cand[: max(0, max_replace + top_n - n_held)]
    new_today = np.zeros(len(score), dtype=bool)
    new_today[today] = True
    in_comb = held_o | new_today[order]
    comb = order[in_comb]
    tail = comb[max(top_n, len(comb) - max_replace):]
    tail_mask = np.zeros(len(score), dtype=bool)
    tail_mask[tail] = True
    held_order = order[held_o]                           # held with a score, best first
    sold = held_order[tail_mask[held_order]]
    bought = today[: max(0, len(sold) + top_n - n_held)]
    kept = held_order[~tail_mask[held_order]]
    if len(kept) > top_n:
        sold = np.concatenate([sold, kept[top_n:]])
        kept = kept[:top_n]
    kept, bought = np.sort(kept), np.sort(bought)
    return Picked(np.sort(np.concatenate([kept, bought])), kept, bought, np.sort(sold), forced)


# --------------------------------------------------------------------------- caps

def water_fill(w: np.ndarray, codes: np.ndarray, n_sectors: int, max_weight: float,
               max_sector: float) -> np.ndarray:
    """Caps by water filling (the rule of :func:`ml.portfolio.apply_caps`); ``codes`` >= 0."""
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


def placeable(codes: np.ndarray, max_weight: float, max_sector: float) -> float:
    """Most weight the caps allow: per sector min(max_sector, n_names * max_weight)."""
    per_sector = np.bincount(codes)
    per_sector = per_sector[per_sector > 0] * max_weight
    return float(np.minimum(per_sector, max_sector).sum())


# --------------------------------------------------------------------------- optimizers

def optimize(data: np.ndarray, optimizer: str, names: Sequence[str],
             caps: tuple[np.ndarray, float, float] | None = None) -> tuple[np.ndarray, list[str]]:
    """Weights (>= 0, sum 1) and notes for the columns of ``data`` (rows dates, NaN allowed).

    The rules of :func:`ml.portfolio.optimize_weights`; ``names`` label the notes only;
    ``caps`` = (sector codes of the columns, max_weight, max_sector) for min_variance.
    """
    k = data.shape[1]
    if k == 1 or optimizer == "equal_weight":
        return np.full(k, 1.0 / k), []
    if optimizer == "inverse_vol":
        return _inverse_vol(data), []
    filled = np.where(np.isnan(data), 0.0, data)
    std = _std(filled)
    flat = ~(std > _ZERO_VOL)                         # NaN (one row) counts as flat
    notes = []
    if flat.any():
        notes.append(f"{optimizer}: no return variance for {sorted(np.asarray(names, dtype=object)[flat])}; "
                     "given the median weight of the others")
    live = ~flat
    n_live = int(live.sum())
    if n_live == 0:
        return np.full(k, 1.0 / k), notes
    if n_live == 1:
        core = np.ones(1)
    elif optimizer == "hrp":
        core = hrp(filled[:, live])
    else:
        sub = None if caps is None else (caps[0][live], caps[1], caps[2])
        core, more = _min_variance(filled[:, live], sub)
        notes += more
    weights = np.empty(k)
    weights[live] = core
    if flat.any():
        weights[flat] = float(np.median(core))
    return weights / weights.sum(), notes


def _std(x: np.ndarray) -> np.ndarray:
    """Column std (ddof=1) skipping NaN; NaN with fewer than two values."""
    ok = ~np.isnan(x)
    n = ok.sum(axis=0)
    filled = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n
        dev = np.where(ok, x - mean, 0.0)
        var = (dev * dev).sum(axis=0) / (n - 1)
    return np.where(n >= 2, np.sqrt(var), np.nan)


def _inverse_vol(data: np.ndarray) -> np.ndarray:
    vol = _std(data)
    ok = vol > _ZERO_VOL
    if not ok.any():
        return np.full(len(vol), 1.0 / len(vol))
    if not ok.all():  # the median only when a name needs it: np.median is slow on small arrays
        vol = np.where(ok, vol, float(np.median(vol[ok])))
    inv = 1.0 / vol
    return inv / inv.sum()


def covariance(x: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf shrunk covariance of returns ``x`` (rows dates): sklearn's ``ledoit_wolf``
    (the estimator of skfolio's ``LedoitWolf`` prior) without its per-call validation."""
    n_samples, n_features = x.shape
    x = x - x.mean(axis=0)
    x2 = x * x
    trace = x2.sum(axis=0) / n_samples
    mu = trace.sum() / n_features
    emp = x.T @ x
    beta_ = float((x2.T @ x2).sum())
    delta_ = float((emp * emp).sum()) / n_samples**2
    beta = 1.0 / (n_features * n_samples) * (beta_ / n_samples - delta_)
    delta = (delta_ - 2.0 * mu * trace.sum() + n_features * mu**2) / n_features
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    emp = emp / n_samples
    shrunk = (1.0 - shrinkage) * emp
    shrunk.flat[:: n_features + 1] += shrinkage * np.trace(emp) / n_features
    return shrunk


def hrp(x: np.ndarray) -> np.ndarray:
    """Hierarchical risk parity (variance) on returns ``x`` (no NaN, every column varies).

    skfolio's ``HierarchicalRiskParity`` with its defaults: Pearson distance
    ``sqrt((1 - corr) / 2)`` of the returns, Ward linkage with optimal leaf ordering, then
    recursive bisection of that order, each half weighted by the inverse of the variance of
    its inverse-variance portfolio under the Ledoit-Wolf covariance.
    """
    import scipy.cluster.hierarchy as sch
    from scipy.spatial.distance import squareform

    cov = covariance(x)
    corr = np.corrcoef(x.T)
    distance = np.sqrt(np.clip(0.5 * (1.0 - corr), 0.0, 1.0))
    condensed = squareform(distance, checks=False)
    link = sch.linkage(condensed, method="ward")
    order = _leaves(_optimal_leaf_ordering(link, condensed))
    risk = np.diag(cov)
    if not np.isfinite(risk).all() or (risk == 0).any():
        raise ValueError("hrp cannot split assets with zero or nonfinite risk")
    # in leaf order every cluster of the bisection is a contiguous slice [lo, hi)
    cov, inv = cov[np.ix_(order, order)], 1.0 / risk[order]
    weights = np.ones(len(order))
    items = [(0, len(order))]
    while items:
        split = [(lo, (lo + hi) // 2, hi) for lo, hi in items if hi - lo > 1]
        items = []
        for lo, mid, hi in split:
            items += [(lo, mid), (mid, hi)]
            lr, rr = _cluster_variance(cov, inv, lo, mid), _cluster_variance(cov, inv, mid, hi)
            alpha = 1.0 - lr / (lr + rr)
            weights[lo:mid] *= alpha
            weights[mid:hi] *= 1.0 - alpha
    out = np.empty(len(order))
    out[order] = weights
    return _clean(out, "hrp", noise=0.0)


def _optimal_leaf_ordering(link: np.ndarray, condensed: np.ndarray) -> np.ndarray:
    """scipy's optimal leaf ordering of a linkage built just above from finite distances: its
    compiled routine directly (``scipy.cluster.hierarchy.optimal_leaf_ordering`` re-validates the
    linkage through the array-API layer, ~1 ms a call, every day of a backtest)."""
    try:
        from scipy.cluster._optimal_leaf_ordering import optimal_leaf_ordering
    except ImportError:  # a scipy that moved it: the public function, same result
        from scipy.cluster.hierarchy import optimal_leaf_ordering
    return optimal_leaf_ordering(link, condensed)


def _leaves(link: np.ndarray) -> np.ndarray:
    """The leaves of a linkage left to right (``scipy.cluster.hierarchy.leaves_list``)."""
    n = len(link) + 1
    out, stack = [], [2 * n - 2]
    while stack:
        node = stack.pop()
        if node < n:
            out.append(node)
        else:
            left, right = int(link[node - n, 0]), int(link[node - n, 1])
            stack += [right, left]
    return np.asarray(out, dtype=np.int64)


def _cluster_variance(cov: np.ndarray, inv: np.ndarray, lo: int, hi: int) -> float:
    """The variance of the inverse-variance portfolio of the names [lo, hi) (``inv``: 1 / variance)."""
    w = inv[lo:hi] / inv[lo:hi].sum()
    return float(w @ cov[lo:hi, lo:hi] @ w)


def _min_variance(x: np.ndarray, caps: tuple[np.ndarray, float, float] | None
                  ) -> tuple[np.ndarray, list[str]]:
    """Minimum variance, with the caps as constraints when they can hold a full budget."""
    cov = covariance(x)
    if caps is None:
        return min_variance(cov), []
    codes, max_weight, max_sector = caps
    room = placeable(codes, max_weight, max_sector)
    if room < 1.0 - _FEASIBLE_TOL:
        return min_variance(cov), [
            f"min_variance: caps infeasible for a full budget ({x.shape[1]} names in "
            f"{len(np.unique(codes))} sectors can hold at most {room:.4f}); "
            "unconstrained solution capped by apply_caps instead"]
    try:
        return min_variance(cov, codes, max_weight, max_sector), []
    except ValueError as err:
        return min_variance(cov), [f"min_variance: constrained solve failed ({err}); "
                                   "unconstrained solution capped by apply_caps instead"]


def min_variance(cov: np.ndarray, codes: np.ndarray | None = None, max_weight: float = 1.0,
                 max_sector: float = 1.0) -> np.ndarray:
    """``argmin w' cov w`` with ``sum w = 1``, ``0 <= w <= max_weight`` and every sector
    (``codes``) at most ``max_sector``: a primal active-set QP (Nocedal & Wright, alg. 16.3),
    exact up to rounding where an interior-point solver stops at its tolerance.

    Raises ValueError when it does not converge (a degenerate working set).
    """
    n = len(cov)
    q = cov / float(np.mean(np.diag(cov)))  # unit scale: the optimum is unchanged
    rows, bound = [-np.eye(n)], [np.zeros(n)]
    if max_weight < 1.0:
        rows.append(np.eye(n))
        bound.append(np.full(n, max_weight))
    if codes is not None:
        member = (codes[None, :] == np.unique(codes)[:, None]).astype(float)
        rows.append(member)
        bound.append(np.full(len(member), max_sector))
    g, h = np.vstack(rows), np.concatenate(bound)
    x = np.full(n, 1.0 / n)
    if codes is not None or max_weight < 1.0:
        x = water_fill(x, codes if codes is not None else np.zeros(n, dtype=np.int64),
                       int(codes.max()) + 1 if codes is not None else 1, max_weight, max_sector)
        if abs(x.sum() - 1.0) > _FEASIBLE_TOL:
            raise ValueError("no feasible start: the caps cannot hold a full budget")
    tol = 1e-12
    work = np.flatnonzero(g @ x >= h - tol).tolist()
    for _ in range(50 * (n + len(h))):
        m = 1 + len(work)
        kkt = np.zeros((n + m, n + m))  # [[q, c'], [c, 0]] with c = [1; g[work]]
        kkt[:n, :n] = q
        kkt[n, :n] = kkt[:n, n] = 1.0
        if work:
            kkt[n + 1:, :n] = g[work]
            kkt[:n, n + 1:] = g[work].T
        rhs = np.zeros(n + m)
        rhs[:n] = -(q @ x)
        try:
            sol = np.linalg.solve(kkt, rhs)
        except np.linalg.LinAlgError:  # a dependent working set (e.g. a sector full of capped names)
            sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
        step, lam = sol[:n], sol[n + 1:]
        if np.abs(step).max() <= 1e-13:
            if not work or lam.min() >= -1e-12:
                x = np.clip(x, 0.0, None)
                return _clean(x, "min_variance", noise=_SOLVER_NOISE)
            work.pop(int(np.argmin(lam)))
            continue
        gp = g @ step
        room = h - g @ x
        alpha, block = 1.0, None
        for i in np.flatnonzero(gp > 1e-15):
            if i not in work and room[i] / gp[i] < alpha:
                alpha, block = max(room[i] / gp[i], 0.0), int(i)
        x = x + alpha * step
        if block is not None:
            work.append(block)
    raise ValueError("active-set QP did not converge")


def _clean(raw: np.ndarray, optimizer: str, noise: float) -> np.ndarray:
    w = np.asarray(raw, dtype=float)
    if not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"{optimizer} returned unusable weights: {w.tolist()}")
    w = np.where(w > noise, w, 0.0)
    return w / w.sum()


# --------------------------------------------------------------------------- the day

@dataclass(frozen=True)
class DayWeights:
    """:func:`day_weights`' result: positions ``names`` and their final ``weights`` (> 0 or 0),
    the selection, validity with reasons, and notes."""

    names: np.ndarray
    weights: np.ndarray
    picked: Picked
    exposure: float
    valid: bool
    reasons: tuple[str, ...]
    notes: tuple[str, ...]


def day_weights(score: np.ndarray, held: np.ndarray, history: np.ndarray, eligible: np.ndarray,
                window: Callable[[np.ndarray], np.ndarray], sector: np.ndarray, n_sectors: int,
                exposure: float, spec: PortfolioSpec, tickers: Sequence[str]) -> DayWeights:
    """Target weights of one date on arrays over a universe of ``len(score)`` tickers.

    Parameters
    ----------
    score : float array
        The date's scores, NaN = no prediction.
    held : bool array
        Names in the book.
    history : int array
        Non-NaN returns of each name in the trailing ``cov_window`` rows up to the date.
    eligible : bool array
        Names whose signal allows buying.
    window : callable
        Positions -> the trailing ``cov_window`` rows of daily returns of those names
        (rows x names, NaN allowed), up to and including the decision date only.
    sector, n_sectors : int array, int
        Sector code of each name (-1: none); number of codes.
    exposure : float
        Gross exposure of the date's regime.
    tickers : sequence of str
        Ticker of each position, for the notes and errors.
    """
    n_scored = int((~np.isnan(score)).sum())
    min_names, adapted = adapt.min_book(n_scored, spec.min_names)
    can_buy = (history >= spec.min_history) & eligible
    picked = select(score, held, can_buy, spec.top_n, spec.max_replace)
    notes = [str(a) for a in adapted]
    if len(picked.forced):
        notes.append(f"forced exits (held, no score): {[tickers[i] for i in picked.forced]}")
    empty = np.zeros(0, dtype=np.int64)
    if n_scored == 0:
        return DayWeights(empty, np.zeros(0), picked, exposure, False, ("no scored names",), tuple(notes))
    names = picked.names
    reasons = []
    if len(names) < min_names:
        reasons.append(f"{len(names)} names < min_names {min_names}")
    if not len(names):
        return DayWeights(empty, np.zeros(0), picked, exposure, False, tuple(reasons), tuple(notes))
    short = [tickers[i] for i in picked.kept if history[i] < spec.min_history]
    if short:
        notes.append(f"held names kept with < {spec.min_history} returns in the window: {short}")
    codes = sector[names]
    if (codes < 0).any():
        raise ValueError(f"no sector for tickers {sorted(tickers[i] for i in names[codes < 0])}")
    labels = [tickers[i] for i in names]
    data = window(names)
    if spec.optimizer in ("hrp", "min_variance"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw, more = optimize(data, spec.optimizer, labels,
                                 (codes, spec.max_weight, spec.max_sector)
                                 if spec.optimizer == "min_variance" else None)
        more += sorted({f"{spec.optimizer} {w.category.__name__}: {w.message}" for w in caught})
    else:
        raw, more = optimize(data, spec.optimizer, labels)
    notes += more
    capped = water_fill(raw, codes, n_sectors, spec.max_weight, spec.max_sector)
    unplaced = 1.0 - float(capped.sum())
    if unplaced > _FEASIBLE_TOL:
        notes.append(f"caps left {unplaced:.4f} of the book unallocated (cash) before the "
                     f"regime exposure {exposure}")
    final = water_fill(capped * exposure, codes, n_sectors, spec.max_weight, spec.max_sector)
    return DayWeights(names, final, picked, exposure, not reasons, tuple(reasons), tuple(notes))
