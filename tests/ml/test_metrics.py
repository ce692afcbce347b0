"""Tests for ml.metrics on hand-computed tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.metrics import (
    auc,
    brier,
    calibration_error,
    daily_ic,
    hit_rate,
    ic_summary,
    log_loss,
    mae,
    mse,
    quantile_spread,
    r2,
)

# --------------------------------------------------------------------------- #
# standard metrics
# --------------------------------------------------------------------------- #


def test_regression_metrics() -> None:
    y, yhat = [1.0, 2.0, 3.0], [1.0, 2.0, 5.0]
    assert mse(y, yhat) == pytest.approx(4 / 3)
    assert mae(y, yhat) == pytest.approx(2 / 3)
    assert r2(y, yhat) == pytest.approx(1 - 4 / 2)


def test_probability_metrics() -> None:
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert log_loss([1, 1], [0.8, 0.5]) == pytest.approx(-(math.log(0.8) + math.log(0.5)) / 2)
    assert brier([0, 1], [0.2, 0.6]) == pytest.approx(0.1)


def test_auc_single_class_raises() -> None:
    with pytest.raises(ValueError, match=r"AUC needs both classes in y_true, got only \[1\] \(3 rows\)"):
        auc([1, 1, 1], [0.2, 0.5, 0.9])


def test_standard_metrics_do_not_swallow_nan() -> None:
    with pytest.raises(ValueError, match=r"NaN"):
        mse([1.0, np.nan], [1.0, 2.0])


# --------------------------------------------------------------------------- #
# daily IC
# --------------------------------------------------------------------------- #


def ic_panel() -> pd.DataFrame:
    rows = [
        # date A: IC 0.8 (pearson and spearman); the NaN row is ignored
        ("A", 1.0, 1.0), ("A", 2.0, 3.0), ("A", 3.0, 2.0), ("A", 4.0, 4.0), ("A", np.nan, 9.0),
        # date B: outlier target, spearman 1.0, pearson lower
        ("B", 1.0, 0.0), ("B", 2.0, 0.1), ("B", 3.0, 0.2), ("B", 4.0, 10.0),
        # date C: only two names with both values -> dropped
        ("C", 1.0, 0.5), ("C", 2.0, 0.1), ("C", 3.0, np.nan),
        # date D: constant prediction -> dropped
        ("D", 1.0, 0.5), ("D", 1.0, 0.1), ("D", 1.0, 0.3),
        # date E: constant target -> dropped
        ("E", 1.0, 0.2), ("E", 2.0, 0.2), ("E", 3.0, 0.2),
        # date F: tied targets, three names
        ("F", 1.0, 0.0), ("F", 2.0, 0.0), ("F", 3.0, 1.0),
    ]
    df = pd.DataFrame(rows, columns=["day", "yhat", "ret"])
    return df.sample(frac=1.0, random_state=0)  # row order must not matter


def test_daily_ic_pearson_exact() -> None:
    ic = daily_ic(ic_panel(), "yhat", "ret", date_col="day")
    assert ic.name == "ic" and ic.index.name == "day"
    assert ic.index.tolist() == ["A", "B", "F"]
    # A: dx = dy up to a swap -> 4 / 5; F: 1 / sqrt(2 * 2/3) = sqrt(3) / 2
    assert ic["A"] == pytest.approx(0.8, abs=1e-12)
    assert ic["F"] == pytest.approx(math.sqrt(3) / 2, abs=1e-12)
    # B by hand: sxy = 15.05, sxx = 5, syy = 73.5275
    assert ic["B"] == pytest.approx(15.05 / math.sqrt(5 * 73.5275), abs=1e-12)
    assert ic["B"] == pytest.approx(stats.pearsonr([1, 2, 3, 4], [0, 0.1, 0.2, 10]).statistic)


def test_daily_ic_spearman() -> None:
    ic = daily_ic(ic_panel(), "yhat", "ret", date_col="day", method="spearman")
    assert ic.name == "rank_ic"
    assert ic.index.tolist() == ["A", "B", "F"]
    assert ic["A"] == pytest.approx(0.8, abs=1e-12)
    assert ic["B"] == pytest.approx(1.0, abs=1e-12)
    # ties share the average rank, as scipy does
    assert ic["F"] == pytest.approx(stats.spearmanr([1, 2, 3], [0, 0, 1]).statistic, abs=1e-12)


def test_daily_ic_matches_scipy_on_random_panel() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "date": np.repeat(pd.bdate_range("2024-01-01", periods=20), 30),
            "yhat": rng.normal(size=600).round(1),  # rounding creates ties
        }
    )
    df["ret"] = 0.3 * df["yhat"] + rng.normal(size=600)
    for method, scipy_fn in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
        ic = daily_ic(df, "yhat", "ret", method=method)
        expected = df.groupby("date").apply(lambda g: scipy_fn(g["yhat"], g["ret"]).statistic)
        np.testing.assert_allclose(ic.to_numpy(), expected.to_numpy(), atol=1e-12)


def test_daily_ic_errors() -> None:
    df = ic_panel()
    with pytest.raises(ValueError, match=r"method must be 'pearson' or 'spearman', got 'kendall'"):
        daily_ic(df, "yhat", "ret", date_col="day", method="kendall")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"columns \['date'\] not in the frame"):
        daily_ic(df, "yhat", "ret")
    bad = df.assign(yhat=df["yhat"].replace(4.0, np.inf))
    with pytest.raises(ValueError, match=r"'yhat' contains infinite values"):
        daily_ic(bad, "yhat", "ret", date_col="day")
    missing_date = df.assign(day=df["day"].where(df["yhat"] != 4.0))
    with pytest.raises(ValueError, match=r"'day' has 2 missing values"):
        daily_ic(missing_date, "yhat", "ret", date_col="day")


def test_daily_ic_can_be_empty() -> None:
    df = pd.DataFrame({"date": [1, 1, 2, 2], "yhat": [1.0, 2.0, 1.0, 2.0], "ret": [0.1, 0.2, 0.3, 0.1]})
    ic = daily_ic(df, "yhat", "ret")
    assert ic.empty
    with pytest.raises(ValueError, match=r"ic is empty"):
        ic_summary(ic)


# --------------------------------------------------------------------------- #
# IC summary
# --------------------------------------------------------------------------- #


def test_ic_summary_numbers() -> None:
    summary = ic_summary(pd.Series([0.1, 0.3, -0.1, 0.1]))
    std = math.sqrt(0.08 / 3)
    assert summary["mean"] == pytest.approx(0.1)
    assert summary["std"] == pytest.approx(std)
    assert summary["icir"] == pytest.approx(0.1 / std)
    assert summary["t_stat"] == pytest.approx(0.1 / std * 2)
    assert summary["n_dates"] == 4
    assert summary["hit_rate"] == 0.75


def test_ic_summary_edge_cases() -> None:
    one = ic_summary([0.2])
    assert one["n_dates"] == 1 and one["mean"] == pytest.approx(0.2)
    assert math.isnan(one["std"]) and math.isnan(one["icir"]) and math.isnan(one["t_stat"])
    flat = ic_summary([0.1, 0.1])
    assert flat["std"] == 0.0 and flat["icir"] == math.inf
    with pytest.raises(ValueError, match=r"ic has 1 NaN/inf values of 3"):
        ic_summary([0.1, np.nan, 0.2])
    with pytest.raises(ValueError, match=r"ic is empty"):
        ic_summary([])


# --------------------------------------------------------------------------- #
# hit rate
# --------------------------------------------------------------------------- #


def test_hit_rate() -> None:
    assert hit_rate([0.5, -0.2, 0.1, 0.0], [1.0, 0.3, 0.2, 0.0]) == 0.75
    assert hit_rate([0.0, 1.0], [0.5, 1.0]) == 0.5  # zero prediction vs positive outcome: miss
    with pytest.raises(ValueError, match=r"pred has 2 values but actual has 3"):
        hit_rate([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"actual has 1 missing or infinite values"):
        hit_rate([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match=r"pred is empty"):
        hit_rate([], [])


# --------------------------------------------------------------------------- #
# quantile spread
# --------------------------------------------------------------------------- #


def test_quantile_spread_hand_computed() -> None:
    df = pd.DataFrame(
        {
            "date": [1] * 6 + [2] * 6 + [3] * 2,
            "yhat": [6, 5, 4, 3, 2, 1] + [1, 2, 3, 4, 5, 6] + [1, 2],
            "ret": [0.6, 0.5, 0.4, 0.3, 0.2, 0.1] + [0.3, 0.1, 0.0, 0.0, 0.2, 0.2] + [0.0, 9.0],
        }
    )
    mean, per_date = quantile_spread(df, "yhat", "ret", n_quantiles=3)
    # tertiles of 6 names: bottom = ranks 1-2, top = ranks 5-6; date 3 has < 3 names
    assert per_date.name == "spread" and per_date.index.name == "date"
    assert per_date.index.tolist() == [1, 2]
    assert per_date[1] == pytest.approx(0.55 - 0.15)
    assert per_date[2] == pytest.approx(0.2 - 0.2)
    assert mean == pytest.approx(0.2)


def test_quantile_spread_matches_qcut_on_ranks() -> None:
    rng = np.random.default_rng(1)
    sizes = rng.integers(10, 40, size=15)
    df = pd.DataFrame(
        {
            "date": np.repeat(np.arange(15), sizes),
            "yhat": rng.normal(size=sizes.sum()),
            "ret": rng.normal(size=sizes.sum()),
        }
    )

    def by_qcut(g: pd.DataFrame) -> float:
        bucket = pd.qcut(g["yhat"].rank(method="first"), 10, labels=False)
        return g["ret"][bucket == 9].mean() - g["ret"][bucket == 0].mean()

    expected = df.groupby("date").apply(by_qcut)
    mean, per_date = quantile_spread(df, "yhat", "ret")
    np.testing.assert_allclose(per_date.to_numpy(), expected.to_numpy(), atol=1e-12)
    assert mean == pytest.approx(expected.mean())


def test_quantile_spread_ties_share_a_bucket() -> None:
    df = pd.DataFrame(
        {"date": [1] * 4, "yhat": [1.0, 1.0, 2.0, 3.0], "ret": [0.1, 0.3, 0.0, 0.5]}
    )
    _, per_date = quantile_spread(df, "yhat", "ret", n_quantiles=2)
    _, reversed_order = quantile_spread(df.iloc[::-1], "yhat", "ret", n_quantiles=2)
    # ranks 1.5, 1.5, 3, 4 -> bottom {0.1, 0.3}, top {0.0, 0.5}
    assert per_date[1] == pytest.approx(0.25 - 0.2)
    assert reversed_order[1] == per_date[1]
    flat = pd.DataFrame({"date": [1] * 4, "yhat": [1.0] * 4, "ret": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(ValueError, match=r"no date has at least n_quantiles=2 names"):
        quantile_spread(flat, "yhat", "ret", n_quantiles=2)


def test_quantile_spread_errors() -> None:
    df = pd.DataFrame({"date": [1, 1, 1], "yhat": [1.0, 2.0, 3.0], "ret": [0.1, 0.2, np.nan]})
    with pytest.raises(ValueError, match=r"n_quantiles must be >= 2, got n_quantiles=1"):
        quantile_spread(df, "yhat", "ret", n_quantiles=1)
    with pytest.raises(TypeError, match=r"n_quantiles must be an integer, got 2.5"):
        quantile_spread(df, "yhat", "ret", n_quantiles=2.5)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=r"no date has at least n_quantiles=3 names with both 'yhat' and 'ret' \(largest cross-section: 2\)",
    ):
        quantile_spread(df, "yhat", "ret", n_quantiles=3)
    with pytest.raises(ValueError, match=r"columns \['score'\] not in the frame"):
        quantile_spread(df, "score", "ret")


# --------------------------------------------------------------------------- #
# calibration error
# --------------------------------------------------------------------------- #


def test_calibration_error_hand_computed() -> None:
    prob = [0.05, 0.15, 0.15, 0.95, 1.0]
    outcome = [0, 0, 1, 1, 1]
    # bins: [0, .1): |0 - .05| * 1; [.1, .2): |1 - .3| over 2 rows; [.9, 1]: |2 - 1.95|
    assert calibration_error(prob, outcome) == pytest.approx((0.05 + 0.7 + 0.05) / 5)
    assert calibration_error(prob, outcome, n_bins=1) == pytest.approx(abs(3 - 2.3) / 5)


def test_calibration_error_perfect_and_boolean() -> None:
    assert calibration_error([0.5] * 4, [True, False, True, False]) == 0.0
    assert calibration_error([0.0, 1.0], [0, 1]) == 0.0


def test_calibration_error_errors() -> None:
    with pytest.raises(ValueError, match=r"prob must lie in \[0, 1\], got values from -0.1 to 0.5"):
        calibration_error([-0.1, 0.5], [0, 1])
    with pytest.raises(ValueError, match=r"outcome must be 0 or 1, got \[2.0\]"):
        calibration_error([0.1, 0.5], [0, 2])
    with pytest.raises(ValueError, match=r"prob has 3 values but outcome has 2"):
        calibration_error([0.1, 0.5, 0.2], [0, 1])
    with pytest.raises(ValueError, match=r"n_bins must be >= 1, got n_bins=0"):
        calibration_error([0.1], [0], n_bins=0)
    with pytest.raises(ValueError, match=r"prob has 1 missing or infinite values"):
        calibration_error([np.nan, 0.5], [0, 1])
