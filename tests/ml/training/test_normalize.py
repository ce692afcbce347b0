"""Per-date normalization (ml.training.normalize): exact cases, and that a date uses its own rows only."""

import numpy as np
import pytest

from ml.training.normalize import normalize_by_date

D1, D2 = np.datetime64("2020-01-02", "ns"), np.datetime64("2020-01-03", "ns")


def test_rank_maps_each_dates_ranks_to_minus_half_half():
    X = np.array([[3.0], [1.0], [2.0], [2.0], [5.0], [np.nan]])
    date = np.array([D1, D1, D1, D1, D2, D2])
    out = normalize_by_date(X, date, "rank")
    # D1: values 3, 1, 2, 2 -> average ranks 4, 1, 2.5, 2.5 of n=4 -> (r-1)/3 - 0.5
    np.testing.assert_allclose(out[:4, 0], [0.5, -0.5, 0.0, 0.0])
    assert out[4, 0] == 0.0 and np.isnan(out[5, 0])  # one value: 0; missing stays missing


def test_robust_zscore_is_median_and_mad_scaled_and_clipped():
    X = np.array([[1.0], [2.0], [3.0], [4.0], [100.0]])
    date = np.full(5, D1)
    out = normalize_by_date(X, date, "robust_zscore")[:, 0]
    mad = 1.4826 * 1.0  # median 3, absolute deviations 2, 1, 0, 1, 97 -> MAD 1
    np.testing.assert_allclose(out[:4], (np.array([1.0, 2.0, 3.0, 4.0]) - 3.0) / mad)
    assert out[4] == 3.0  # clipped
    constant = normalize_by_date(np.array([[7.0], [7.0]]), np.full(2, D1), "robust_zscore")
    np.testing.assert_array_equal(constant, [[0.0], [0.0]])


@pytest.mark.parametrize("method", ["rank", "robust_zscore"])
def test_a_date_is_normalized_from_its_own_rows_only(method):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    date = np.repeat([D1, D2], 20)
    changed = X.copy()
    changed[20:] = rng.normal(size=(20, 3)) * 10  # every row of the later date
    before, after = normalize_by_date(X, date, method), normalize_by_date(changed, date, method)
    np.testing.assert_array_equal(before[:20], after[:20])
    assert not np.allclose(before[20:], after[20:])


def test_none_and_errors():
    X = np.array([[1.0], [2.0]])
    date = np.array([D2, D1])
    assert normalize_by_date(X, date, "none") is X
    with pytest.raises(ValueError, match="sorted by date"):
        normalize_by_date(X, date, "rank")
    with pytest.raises(ValueError, match="one of"):
        normalize_by_date(X, np.sort(date), "minmax")
