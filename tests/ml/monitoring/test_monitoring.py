"""Tests for ml.monitoring: hand cases, the point-in-time property, JSON output."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.metrics import quantile_spread
from ml.monitoring import (
    feature_drift,
    ic_history,
    model_drift,
    monitoring_log,
    psi,
    quintile_returns,
)

DATES = pd.bdate_range("2024-01-01", periods=6)
TICKERS = list("ABCDEF")
HORIZON = pd.offsets.BDay(5)


def _panel() -> pd.DataFrame:
    """6 dates x 6 names; labels end 5 business days after the prediction date.

    Dates 0-2: yhat = 2 * label + 1 (IC 1); date 3: yhat = exp(50 * label)
    (rank IC 1, IC < 1); date 4: yhat = -label (IC -1); date 5: only 4 names
    have a label (not scored with min_names=5).
    """
    rows = []
    labels = np.array([-0.03, -0.01, 0.0, 0.01, 0.02, 0.05])
    for i, d in enumerate(DATES):
        lab = np.roll(labels, i)
        if i <= 2:
            yhat = 2 * lab + 1
        elif i == 3:
            yhat = np.exp(50 * lab)
        else:
            yhat = -lab
        lab = lab.copy()
        if i == 5:
            lab[:2] = np.nan
        for t, y, lbl in zip(TICKERS, yhat, lab, strict=True):
            rows.append({"date": d, "ticker": t, "yhat": y, "fwd_excess_return": lbl,
                         "fwd_return": lbl + 0.001, "label_end_date": d + HORIZON})
    return pd.DataFrame(rows)


AS_OF_ALL = DATES[-1] + HORIZON  # every label known


# --------------------------------------------------------------------------- #
# ic_history
# --------------------------------------------------------------------------- #


def test_ic_history_hand_case() -> None:
    preds = _panel()
    out = ic_history(preds, AS_OF_ALL, window=3)
    assert out.index.name == "date" and isinstance(out.index, pd.DatetimeIndex)
    assert out.columns.tolist() == ["ic", "rank_ic", "n", "rolling_ic", "rolling_rank_ic"]
    assert out.index.tolist() == list(DATES[:5])  # date 5 has 4 names < min_names
    assert out["ic"].iloc[:3].tolist() == pytest.approx([1.0, 1.0, 1.0])
    d3 = preds[preds["date"] == DATES[3]]
    pearson = stats.pearsonr(d3["yhat"], d3["fwd_excess_return"])[0]
    assert out["ic"].iloc[3] == pytest.approx(pearson)
    assert out["ic"].iloc[3] < 0.99
    assert out["rank_ic"].tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0, -1.0])
    assert out["ic"].iloc[4] == pytest.approx(-1.0)
    assert out["n"].tolist() == [6] * 5 and out["n"].dtype == np.int64
    # window 3 -> min_periods 1: expanding for two dates, then a 3-date mean
    ic = out["ic"].to_numpy()
    expected = [ic[0], ic[:2].mean(), ic[:3].mean(), ic[1:4].mean(), ic[2:5].mean()]
    assert out["rolling_ic"].tolist() == pytest.approx(expected)
    assert out["rolling_rank_ic"].iloc[-1] == pytest.approx(1 / 3)
    # with min_names 4 the fifth date counts too (4 names with a label)
    assert len(ic_history(preds, AS_OF_ALL, min_names=4)) == 6


def test_ic_history_min_periods_is_a_third_of_window() -> None:
    out = ic_history(_panel(), AS_OF_ALL, window=9)  # min_periods 3
    assert out["rolling_ic"].isna().tolist() == [True, True, False, False, False]


def test_ic_history_nothing_matured_is_empty_not_an_error() -> None:
    out = ic_history(_panel(), DATES[0])
    assert out.empty and out.columns.tolist() == [
        "ic", "rank_ic", "n", "rolling_ic", "rolling_rank_ic"]
    assert out.index.name == "date"


def test_ic_history_errors() -> None:
    with pytest.raises(ValueError, match=r"preds lacks columns \['label_end_date'\]"):
        ic_history(_panel().drop(columns="label_end_date"), AS_OF_ALL)
    with pytest.raises(ValueError, match="min_names must be >= 3, got min_names=2"):
        ic_history(_panel(), AS_OF_ALL, min_names=2)
    with pytest.raises(ValueError, match="window must be >= 1, got window=0"):
        ic_history(_panel(), AS_OF_ALL, window=0)


# --------------------------------------------------------------------------- #
# point in time
# --------------------------------------------------------------------------- #


def _with_immature_rows(preds: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Add rows whose label is not known on ``as_of``: they must change nothing."""
    rng = np.random.default_rng(0)
    late = preds.copy()
    late["ticker"] = late["ticker"] + "_late"  # more names on already scored dates
    late["yhat"] = rng.normal(size=len(late))
    late["fwd_excess_return"] = rng.normal(size=len(late))
    late["fwd_return"] = rng.normal(size=len(late))
    late["label_end_date"] = as_of + pd.Timedelta(days=1)
    new_date = late.assign(date=as_of, ticker=late["ticker"] + "_new")  # a date not yet scored
    unknown = late.assign(ticker=late["ticker"] + "_nan", label_end_date=pd.NaT)
    return pd.concat([preds, late, new_date, unknown], ignore_index=True)


@pytest.mark.parametrize("as_of", [DATES[3] + HORIZON, AS_OF_ALL])
def test_rows_maturing_after_as_of_change_nothing(as_of: pd.Timestamp) -> None:
    preds = _panel()
    polluted = _with_immature_rows(preds, as_of)
    base_ic = ic_history(preds, as_of, window=3)
    pd.testing.assert_frame_equal(ic_history(polluted, as_of, window=3), base_ic)
    base_q = quintile_returns(preds, as_of)
    got_q = quintile_returns(polluted, as_of)
    pd.testing.assert_frame_equal(got_q, base_q)
    assert got_q.attrs == base_q.attrs
    # the same rows do count once matured: the test above is not vacuous
    later = as_of + pd.Timedelta(days=1)
    assert not ic_history(polluted, later, window=3).equals(base_ic)


def test_as_of_cuts_on_label_end_date_inclusive() -> None:
    preds = _panel()
    assert ic_history(preds, DATES[2] + HORIZON).index.tolist() == list(DATES[:3])
    assert ic_history(preds, DATES[2] + HORIZON - pd.Timedelta(days=1)).index.tolist() == list(
        DATES[:2])
    # a string date works as well
    assert len(ic_history(preds, str((DATES[0] + HORIZON).date()))) == 1


# --------------------------------------------------------------------------- #
# quintile_returns
# --------------------------------------------------------------------------- #


def test_quintile_returns_hand_case() -> None:
    d1, d2 = DATES[:2]
    preds = pd.DataFrame({
        "date": [d1] * 5 + [d2] * 5,
        "ticker": list("ABCDE") * 2,
        "yhat": [1, 2, 3, 4, 5, 5, 4, 3, 2, 1],
        "fwd_return": [0.01, 0.02, 0.03, 0.04, 0.05, 0.01, 0.02, 0.03, 0.04, 0.05],
        "label_end_date": [d2] * 10,
    })
    out = quintile_returns(preds, d2)
    assert out.index.name == "quantile" and out.index.tolist() == [1, 2, 3, 4, 5]
    # date 1 ranks right, date 2 wrong: every bucket averages to 0.03
    assert out["mean_return"].tolist() == pytest.approx([0.03] * 5)
    assert out["n_dates"].tolist() == [2] * 5
    assert out.attrs["top_minus_bottom"] == pytest.approx(0.0)
    assert out.attrs["top_minus_bottom_dates"] == 2
    first = quintile_returns(preds[preds["date"] == d1], d2)
    assert first["mean_return"].tolist() == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    assert first.attrs["top_minus_bottom"] == pytest.approx(0.04)


def test_quintile_returns_agrees_with_quantile_spread() -> None:
    preds = _panel().dropna(subset=["fwd_return"])
    out = quintile_returns(preds, AS_OF_ALL, quantiles=3)
    mean, _ = quantile_spread(preds, "yhat", "fwd_return", n_quantiles=3)
    assert out.attrs["top_minus_bottom"] == pytest.approx(mean)
    assert out.attrs["top_minus_bottom"] == pytest.approx(
        out["mean_return"].loc[3] - out["mean_return"].loc[1])
    assert out["n_dates"].tolist() == [6, 6, 6]


def test_quintile_returns_ties_and_nothing_matured() -> None:
    d = DATES[0]
    tied = pd.DataFrame({"date": d, "ticker": list("ABCDE"), "yhat": 1.0,
                         "fwd_return": [0.1, 0.2, 0.3, 0.4, 0.5], "label_end_date": d})
    out = quintile_returns(tied, d)
    assert out["n_dates"].tolist() == [0, 0, 1, 0, 0]  # all share the middle bucket
    assert out.loc[3, "mean_return"] == pytest.approx(0.3)
    assert math.isnan(out.attrs["top_minus_bottom"]) and out.attrs["top_minus_bottom_dates"] == 0
    empty = quintile_returns(_panel(), DATES[0])
    assert empty["mean_return"].isna().all() and empty["n_dates"].tolist() == [0] * 5
    assert math.isnan(empty.attrs["top_minus_bottom"])
    with pytest.raises(ValueError, match="quantiles must be >= 2, got quantiles=1"):
        quintile_returns(tied, d, quantiles=1)
    with pytest.raises(ValueError, match=r"'fwd_return' has infinite values on \['2024-01-01'\]"):
        quintile_returns(tied.assign(fwd_return=np.inf), d)


# --------------------------------------------------------------------------- #
# model_drift
# --------------------------------------------------------------------------- #


def _ic(values: list[float] | np.ndarray) -> pd.Series:
    return pd.Series(values, index=pd.bdate_range("2023-01-02", periods=len(values)), dtype=float)


def test_model_drift_healthy_and_failing() -> None:
    ok = model_drift(_ic([0.05] * 200))
    assert ok["review_model"] is False and ok["share_below"] == 0.0
    assert ok["latest_rolling_ic"] == pytest.approx(0.05) and ok["days"] == 126
    assert ok["reason"].startswith("ok:")
    bad = model_drift(_ic([0.05] * 100 + [-0.05] * 200))
    assert bad["review_model"] is True and bad["share_below"] == 1.0
    assert bad["latest_rolling_ic"] == pytest.approx(-0.05)
    assert bad["reason"].startswith("review the model:")
    assert set(bad) == {"review_model", "share_below", "latest_rolling_ic", "days", "reason"}


def test_model_drift_share_is_strictly_compared() -> None:
    # window 1: the rolling IC is the IC; 6 of the last 10 below 0 is not more than 60%
    six = model_drift(_ic([0.1] * 5 + [-0.1] * 6 + [0.1] * 4), window=1, lookback=10)
    assert six["share_below"] == pytest.approx(0.6) and six["review_model"] is False
    seven = model_drift(_ic([0.1] * 5 + [-0.1] * 7 + [0.1] * 3), window=1, lookback=10)
    assert seven["share_below"] == pytest.approx(0.7) and seven["review_model"] is True
    at_threshold = model_drift(_ic([0.0] * 10), window=1, lookback=10)  # 0 is not below 0
    assert at_threshold["share_below"] == 0.0


def test_model_drift_too_little_history() -> None:
    short = model_drift(_ic([-0.2] * 100))  # needs 63 + 126 - 1 = 188
    assert short["review_model"] is False and math.isnan(short["share_below"])
    assert short["days"] == 38 and short["latest_rolling_ic"] == pytest.approx(-0.2)
    assert "not judged: 100 IC dates, 188 needed" in short["reason"]
    tiny = model_drift(_ic([0.1] * 5))
    assert tiny["days"] == 0 and math.isnan(tiny["latest_rolling_ic"])
    empty = model_drift(pd.Series(dtype=float))
    assert empty["review_model"] is False and empty["days"] == 0
    # NaN dates are dropped, not counted as history
    gaps = model_drift(_ic([0.1, np.nan] * 10), window=1, lookback=10)
    assert gaps["days"] == 10 and gaps["share_below"] == 0.0


def test_model_drift_errors() -> None:
    with pytest.raises(ValueError, match="max_share must be in"):
        model_drift(_ic([0.1]), max_share=1.5)
    with pytest.raises(ValueError, match="ic has infinite values on"):
        model_drift(_ic([0.1, np.inf]))
    with pytest.raises(ValueError, match="lookback must be >= 1, got lookback=0"):
        model_drift(_ic([0.1]), lookback=0)


# --------------------------------------------------------------------------- #
# psi and feature_drift
# --------------------------------------------------------------------------- #


def test_psi_identical_samples_is_zero() -> None:
    x = np.random.default_rng(1).normal(size=1000)
    assert psi(x, x) == pytest.approx(0.0, abs=1e-12)
    assert psi(pd.Series(x), x.copy()[::-1]) == pytest.approx(0.0, abs=1e-12)


def test_psi_two_bins_by_hand() -> None:
    # cut at the median 0.5: expected 50/50, actual 25/75
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi([0, 0, 1, 1], [0, 1, 1, 1], bins=2) == pytest.approx(expected)
    assert expected == pytest.approx(0.25 * math.log(3))
    # NaNs are dropped from both samples
    assert psi([0, 0, 1, 1, np.nan], [np.nan, 0, 1, 1, 1], bins=2) == pytest.approx(expected)


def test_psi_open_outer_bins_and_floor() -> None:
    # all of actual beyond the training maximum: lands in the top bin, the empty one is floored
    got = psi([0, 0, 1, 1], [5, 5], bins=2)
    expected = (1e-6 - 0.5) * math.log(1e-6 / 0.5) + (1 - 0.5) * math.log(1 / 0.5)
    assert got == pytest.approx(expected)


def test_psi_tied_maximum_still_gives_two_bins() -> None:
    train = [0.0] + [1.0] * 99  # every interior quantile is the maximum
    assert psi(train, [0.0] * 100) > 1.0


def test_psi_shifted_distribution_is_large() -> None:
    rng = np.random.default_rng(2)
    train, today = rng.normal(size=2000), rng.normal(loc=1.0, size=2000)
    assert psi(train, today) > 0.25
    assert psi(train, rng.normal(size=2000)) < 0.1


def test_psi_undefined_and_errors() -> None:
    assert math.isnan(psi([1.0, 1.0, 1.0], [0.0, 2.0]))
    assert math.isnan(psi([0.0, 1.0], [np.nan, np.nan]))
    with pytest.raises(ValueError, match="actual has 1 infinite values"):
        psi([0.0, 1.0], [np.inf, 0.5])
    with pytest.raises(ValueError, match="bins must be >= 2, got bins=1"):
        psi([0.0, 1.0], [0.5], bins=1)


def test_feature_drift_statuses_and_order() -> None:
    rng = np.random.default_rng(3)
    n = 1000
    same = rng.normal(size=n)
    train = pd.DataFrame({"same": same, "shift": rng.normal(size=n), "const": 1.0,
                          "binary": [0.0, 0.0, 1.0, 1.0] * (n // 4)})
    today = pd.DataFrame({"same": same, "shift": rng.normal(loc=2.0, size=n), "const": 1.0,
                          "binary": [0.0, 1.0, 1.0, 1.0] * (n // 4)})
    today.loc[:9, "same"] = np.nan
    out = feature_drift(train, today, ["const", "same", "binary", "shift"], bins=2)
    assert out.index.name == "feature"
    assert out.index.tolist() == ["shift", "binary", "same", "const"]
    assert out.columns.tolist() == ["psi", "status", "n_train", "n_today"]
    assert out["status"].tolist() == ["alert", "alert", "ok", "unknown"]
    assert out.loc["binary", "psi"] == pytest.approx(0.25 * math.log(3))
    assert out.loc["same", "n_train"] == n and out.loc["same", "n_today"] == n - 10
    # thresholds are inclusive on the upper status
    value = out.loc["binary", "psi"]
    assert feature_drift(train, today, ["binary"], bins=2, warn=value, alert=1.0)[
        "status"].item() == "warn"
    assert feature_drift(train, today, "binary", bins=2, alert=value)["status"].item() == "alert"


def test_feature_drift_errors() -> None:
    df = pd.DataFrame({"a": [0.0, 1.0]})
    with pytest.raises(ValueError, match=r"today lacks columns \['b'\]"):
        feature_drift(df.assign(b=1.0), df, ["a", "b"])
    with pytest.raises(ValueError, match=r"features listed more than once: \['a'\]"):
        feature_drift(df, df, ["a", "a"])
    with pytest.raises(ValueError, match="need 0 <= warn <= alert"):
        feature_drift(df, df, ["a"], warn=0.3, alert=0.2)
    with pytest.raises(ValueError, match="feature 'a': actual has 1 infinite"):
        feature_drift(df, df.replace(1.0, np.inf), ["a"])


# --------------------------------------------------------------------------- #
# monitoring_log
# --------------------------------------------------------------------------- #


def test_monitoring_log_is_plain_json() -> None:
    preds = _panel()
    as_of = AS_OF_ALL
    ic = ic_history(preds, as_of, window=9)  # first rolling values are NaN
    drift = model_drift(ic["ic"])  # too short: share_below NaN
    rng = np.random.default_rng(4)
    train = pd.DataFrame({f"f{i}": rng.normal(size=300) for i in range(12)}).assign(c=0.0)
    today = pd.DataFrame({f"f{i}": rng.normal(loc=i / 4, size=300) for i in range(12)}).assign(
        c=0.0)
    feats = feature_drift(train, today, list(train.columns))
    log = monitoring_log(as_of, ic, drift, feats)

    text = json.dumps(log, allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == log
    assert log["as_of"] == "2024-01-15"
    assert log["ic"]["date"] == "2024-01-05" and log["ic"]["n"] == 6 and log["ic"]["n_dates"] == 5
    assert log["ic"]["ic"] == pytest.approx(-1.0)
    assert log["ic"]["rolling_ic"] == pytest.approx(ic["rolling_ic"].iloc[-1])
    assert log["model_drift"]["share_below"] is None
    assert log["model_drift"]["review_model"] is False
    counts = log["feature_drift"]["counts"]
    assert set(counts) == {"ok", "warn", "alert", "unknown"} and sum(counts.values()) == 13
    assert counts["unknown"] == 1
    top = log["feature_drift"]["top"]
    assert len(top) == 10 and top[0]["feature"] == "f11"
    assert [t["psi"] for t in top] == sorted((t["psi"] for t in top), reverse=True)
    assert set(top[0]) == {"feature", "psi", "status", "n_train", "n_today"}
    assert type(top[0]["n_train"]) is int and type(top[0]["psi"]) is float


def test_monitoring_log_empty_history_and_future_frame() -> None:
    empty_ic = ic_history(_panel(), DATES[0])
    log = monitoring_log(DATES[0], empty_ic, model_drift(empty_ic["ic"]),
                         feature_drift(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [1.0]}),
                                       ["a"]))
    json.dumps(log, allow_nan=False)
    assert log["ic"]["date"] is None and log["ic"]["n_dates"] == 0
    assert log["feature_drift"]["top"] == []
    ic = ic_history(_panel(), AS_OF_ALL)
    with pytest.raises(ValueError, match=r"ic has dates after as_of=2024-01-02: \['2024-01-03'"):
        monitoring_log(DATES[1], ic, {}, feature_drift(pd.DataFrame({"a": [1.0]}),
                                                       pd.DataFrame({"a": [1.0]}), ["a"]))
