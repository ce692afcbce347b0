"""How the reports write values: exact text for each kind of value (ml.reports.formatting)."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from ml.reports import formatting as fmt


@pytest.mark.parametrize(("value", "expected"), [
    (pd.Timestamp("2017-11-10"), "2017-11-10"),            # a date, not 2017-11-10 00:00:00
    (pd.Timestamp("2017-11-10 18:30"), "2017-11-10T18:30:00"),
    (dt.date(2017, 11, 10), "2017-11-10"),
    (np.datetime64("2017-11-10"), "2017-11-10"),
    (0.49964101999999994, "0.4996"),
    (1234567.891, "1,234,567.89"),
    (93259, "93,259"),
    (np.int64(5), "5"),
    (True, "True"),
    (None, "n/a"), (float("nan"), "n/a"), (pd.NaT, "n/a"), (pd.NA, "n/a"),
    (float("inf"), "inf"),
    ("lightgbm", "lightgbm"),
])
def test_text(value, expected):
    assert fmt.text(value) == expected


@pytest.mark.parametrize(("function", "value", "expected"), [
    (fmt.count, 399.0, "399"),                 # a count stored as a float is written whole
    (fmt.count, np.float64(93259.0), "93,259"),
    (fmt.count, 9.5, "9.5000"),                # not a whole number: as text, never truncated
    (fmt.count, float("nan"), "n/a"),
    (fmt.percent, 0.0533, "5.33%"),
    (fmt.percent, 13.444, "1,344.40%"),
    (fmt.percent, -0.00001, "0.00%"),          # no "-0.00%"
    (fmt.percent, -0.1257, "-12.57%"),
    (fmt.ratio, 0.617, "0.62"),
    (fmt.ratio, -0.0, "0.00"),
    (fmt.money, 49998.42, "49,998.42"),
])
def test_numbers_by_kind(function, value, expected):
    assert function(value) == expected


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("cagr", 0.0707, "7.07%"),
    ("max_drawdown", -0.1257, "-12.57%"),
    ("sharpe", 0.6171, "0.62"),
    ("n_days", 967.0, "967"),
    ("blocked_days", 399.0, "399"),
    ("avg_holding_days", 9.165, "9.2"),
    ("avg_holding_days", float("nan"), "n/a"),
    ("final_equity", 1234.5, "1,234.50"),
])
def test_performance_metric(name, value, expected):
    assert fmt.metric(name, value) == expected


def test_labels():
    assert [fmt.label(m) for m in ("cagr", "max_drawdown", "blocked_days", "some_new_metric")] == [
        "CAGR", "max drawdown", "days blocked", "some new metric"]


CV = {"ic": -0.007983575238276143, "ic_std": 0.19123344332216916, "icir": -0.041747798395421296,
      "ic_t_stat": -1.2982155732875047, "ic_hit_rate": 0.46845915201654603,
      "rank_ic": -0.006549630814125784, "rank_ic_std": 0.15777183653728344, "rank_icir": -0.04151330781129638,
      "rank_ic_t_stat": -1.2909237078526643, "rank_ic_hit_rate": 0.47156153050672184,
      "n_dates": 967, "n_predictions": 93259, "n_prob_up": 87280.0, "prob_up_brier": 0.2482007764381928,
      "prob_up_ece": 0.0014268839495110437, "spread_top_bottom": -0.0017119138689061053, "extra_key": "x"}


def test_cv_metrics_tables():
    ic, other = fmt.cv_metrics(json.dumps(CV))  # the registry's JSON text, as stored
    assert ic.values.tolist() == [["IC", "-0.0080", "0.1912", "-0.042", "-1.30", "46.8%"],
                                  ["rank IC", "-0.0065", "0.1578", "-0.042", "-1.29", "47.2%"]]
    assert list(ic.columns) == ["", "mean", "std", "IR", "t-stat", "days positive"]
    assert other.values.tolist() == [
        ["dates scored", "967"], ["predictions", "93,259"], ["predictions with prob_up", "87,280"],
        ["prob_up Brier score", "0.2482"], ["prob_up calibration error (ECE)", "0.0014"],
        ["top-minus-bottom decile spread (mean per date)", "-0.17%"], ["extra key", "x"]]


def test_cv_metrics_empty_and_partial():
    for empty in (None, "", {}):
        ic, other = fmt.cv_metrics(empty)
        assert ic.empty and other.empty
    ic, other = fmt.cv_metrics({"rank_ic": 0.031})
    assert ic.values.tolist() == [["rank IC", "0.0310", "n/a", "n/a", "n/a", "n/a"]]
    assert other.empty
