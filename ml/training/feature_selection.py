"""Feature selection on a training window only: which ``max_features`` columns a fold's model uses.

Scores come from the window's labelled training rows and nothing else, so the test window never
shapes the choice (each fold chooses again, and its model records the chosen columns):

* ``mutual_info``: scikit-learn's k-nearest-neighbour estimate of the mutual information between
  each feature and the target (``mutual_info_regression``), on a seeded sample of at most
  ``SAMPLE_ROWS`` rows, missing values filled with the sample's median of the column. It sees
  non-linear, non-monotone dependence; it scores each feature alone, so redundant features can
  all score high.
* ``lightgbm``: the total split gain of each feature in a small LightGBM model (``ROUNDS`` trees,
  the model defaults) fitted on the same sample: the features the trees actually use, with
  redundant ones sharing the gain.
* ``none``: every feature.

The chosen columns keep the panel's order. Ties in the score break by that order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

SELECTIONS: tuple[str, ...] = ("none", "mutual_info", "lightgbm")
SAMPLE_ROWS = 20_000
ROUNDS = 50


@dataclass(frozen=True)
class Selected:
    """The columns chosen for one training window and the scores they were chosen by."""

    columns: np.ndarray  # indices into the panel's features, ascending
    scores: dict[str, float]  # feature -> score, every feature scored (empty for "none")


def select_features(X: np.ndarray, y: np.ndarray, features: tuple[str, ...], method: str,
                    max_features: int, seed: int = 0) -> Selected:
    """The ``max_features`` best columns of ``X`` for the target ``y`` (rows: one training window).

    Rows with a missing target are left out. ``max_features`` 0 or at least the number of
    features keeps every column (and scores nothing).
    """
    if method not in SELECTIONS:
        raise ValueError(f"feature selection must be one of {SELECTIONS}, got {method!r}")
    k = len(features)
    if method == "none" or max_features <= 0 or max_features >= k:
        return Selected(np.arange(k), {})
    rows = np.flatnonzero(~np.isnan(y))
    if rows.size < 2:
        raise ValueError(f"feature selection needs labelled training rows; the window has {rows.size}")
    rng = np.random.default_rng(seed)
    if rows.size > SAMPLE_ROWS:
        rows = np.sort(rng.choice(rows, SAMPLE_ROWS, replace=False))
    sample = np.asarray(X[rows], dtype=np.float64)
    target = np.asarray(y[rows], dtype=np.float64)
    scores = _mutual_info(sample, target, seed) if method == "mutual_info" else _gain(sample, target, seed)
    order = np.lexsort((np.arange(k), -scores))  # best first, ties by panel order
    return Selected(np.sort(order[:max_features]), {name: float(s) for name, s in zip(features, scores, strict=True)})


def _mutual_info(X: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.feature_selection import mutual_info_regression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: its median is NaN, filled with 0
        median = np.nan_to_num(np.nanmedian(X, axis=0))
    filled = np.where(np.isnan(X), median, X)
    return np.asarray(mutual_info_regression(filled, y, random_state=seed), dtype=np.float64)


def _gain(X: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    import lightgbm as lgb

    params = {"objective": "regression", "verbosity": -1, "seed": seed, "deterministic": True,
              "force_col_wise": True, "num_threads": 1, "feature_pre_filter": False}
    booster = lgb.train(params, lgb.Dataset(X, label=y, params=params), num_boost_round=ROUNDS)
    return np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
