"""Metadata for the UI: one rounding for every asset and check (assets/metadata.py)."""

import math

import dagster as dg
import numpy as np
import pandas as pd

from assets import metadata


def test_entries_round_floats_everywhere_and_leave_the_rest():
    out = metadata.entries({
        "turnover": 0.49964101999999994, "seconds": 136.234, "equity": 1234567.891, "ece": 0.0014268839495110437,
        "days": np.int64(967), "nan": float("nan"), "name": "ridge", "ok": np.bool_(True),
        "by_rule": dg.MetadataValue.json({"share": [0.123456789, 2], "n": 3}),
        "ic": dg.MetadataValue.float(-0.006549630814125784), "path": dg.MetadataValue.path("/tmp/x"),
    })
    assert out["turnover"] == 0.4996 and out["seconds"] == 136.23 and out["equity"] == 1234567.89
    assert out["ece"] == 0.001427 and out["days"] == 967 and type(out["days"]) is int and out["ok"] is True
    assert math.isnan(out["nan"]) and out["name"] == "ridge"
    assert out["by_rule"] == dg.MetadataValue.json({"share": [0.1235, 2], "n": 3})
    assert out["ic"] == dg.MetadataValue.float(-0.00655)
    assert out["path"] == dg.MetadataValue.path("/tmp/x")


def test_table_writes_whole_numbers_dates_and_missing_values():
    frame = pd.DataFrame({"sharpe": [0.6171234, np.nan], "days": [967.0, np.nan], "equity": [1234567.891, 2.0],
                          "start": pd.to_datetime(["2017-11-10", "2017-11-13"])}, index=["model", "gspc"])
    assert metadata.table(frame).value.splitlines() == [
        "|       |   sharpe |   days |       equity | start      |",
        "|:------|---------:|-------:|-------------:|:-----------|",
        "| model |   0.6171 |    967 | 1,234,567.89 | 2017-11-10 |",
        "| gspc  |   -      |      - |         2.0  | 2017-11-13 |",
    ]
