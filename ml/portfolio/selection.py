"""Name selection: the top-K names with a dropout buffer (:func:`select_names`, on the kernel
:func:`ml.portfolio.arrays.select`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.common import check_int
from ml.portfolio.arrays import select


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
    can_buy = _eligible(eligible, score.index)
    universe = sorted(set(score.index) | held_set)
    tickers = np.asarray(universe, dtype=object)
    picked = select(score.reindex(universe).to_numpy(dtype=float), np.isin(tickers, list(held_set)),
                    np.array([can_buy.get(t, False) for t in universe], dtype=bool), top_n, max_replace)

    def names(idx: np.ndarray) -> list[str]:
        return [universe[i] for i in idx]

    return Selection(names=names(picked.names), kept=names(picked.kept), added=names(picked.added),
                     dropped=names(picked.dropped), forced_exits=names(picked.forced))


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
