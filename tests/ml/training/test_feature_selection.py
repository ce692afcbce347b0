"""Feature selection on a training window (ml.training.feature_selection)."""

import numpy as np
import pytest

from ml.training.feature_selection import select_features

FEATURES = ("a", "b", "c", "d", "e")


def window(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = X[:, 1] + 0.5 * np.sin(3 * X[:, 3]) + 0.1 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("method", ["mutual_info", "lightgbm"])
def test_the_informative_columns_are_chosen_in_panel_order(method):
    X, y = window()
    chosen = select_features(X, y, FEATURES, method, max_features=2)
    assert chosen.columns.tolist() == [1, 3]
    assert set(chosen.scores) == set(FEATURES)
    assert min(chosen.scores["b"], chosen.scores["d"]) > max(chosen.scores[f] for f in "ace")


def test_unlabelled_rows_are_left_out_and_the_choice_is_deterministic():
    X, y = window()
    y_missing = y.copy()
    y_missing[::3] = np.nan
    X_changed = X.copy()
    X_changed[::3] = 99.0  # rows without a label: whatever they hold, they are not used
    first = select_features(X, y_missing, FEATURES, "mutual_info", 2, seed=1)
    second = select_features(X_changed, y_missing, FEATURES, "mutual_info", 2, seed=1)
    assert first.columns.tolist() == second.columns.tolist() and first.scores == second.scores


def test_keeping_every_column():
    X, y = window()
    for method, k in [("none", 2), ("mutual_info", 0), ("lightgbm", 5)]:
        chosen = select_features(X, y, FEATURES, method, k)
        assert chosen.columns.tolist() == [0, 1, 2, 3, 4] and chosen.scores == {}
    with pytest.raises(ValueError, match="one of"):
        select_features(X, y, FEATURES, "chi2", 2)
