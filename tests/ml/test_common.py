"""The shared helpers of ml/common.py: exact small cases."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.common import (
    Grid,
    atomic_write,
    canonical_json,
    check_int,
    iso,
    jsonable,
    library_versions,
)


def test_check_int_returns_a_python_int() -> None:
    assert check_int("n", 3, 1) == 3
    assert check_int("n", np.int64(0)) == 0
    assert type(check_int("n", np.int32(5), minimum=5)) is int


@pytest.mark.parametrize(("value", "match"), [
    (2.5, r"n_iter must be an integer, got 2.5 \(float\)"),
    (True, r"n_iter must be an integer, got True \(bool\)"),
    (None, r"n_iter must be an integer, got None \(NoneType\)"),
    ("3", r"n_iter must be an integer, got '3' \(str\)"),
])
def test_check_int_rejects_non_integers(value: object, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        check_int("n_iter", value, minimum=1)


def test_check_int_names_the_parameter_and_value_below_the_minimum() -> None:
    with pytest.raises(ValueError, match=r"^n_iter must be >= 1, got n_iter=0$"):
        check_int("n_iter", 0, minimum=1)
    with pytest.raises(ValueError, match=r"^seed must be >= 0, got seed=-1$"):
        check_int("seed", -1)


def test_jsonable_one_nan_policy() -> None:
    value = {"nan": float("nan"), "inf": np.inf, "-inf": -math.inf, "f32": np.float32("nan"),
             "nat": pd.NaT, "na": pd.NA, "none": None}
    assert jsonable(value) == {k: None for k in value}


def test_jsonable_plain_types() -> None:
    out = jsonable({
        "i": np.int64(2), "f": np.float64(0.5), "b": np.bool_(True), "s": "x",
        "day": pd.Timestamp("2024-01-05"), "time": pd.Timestamp("2024-01-05 09:30"),
        "date": dt.date(2024, 1, 5), "dt64": np.datetime64("2024-01-05"),
        "tuple": (1, 2.0), "array": np.array([1.0, np.nan]), "path": Path("a/b"),
        pd.Timestamp("2024-02-01"): 1,
        "frame": pd.DataFrame({"a": [1, 2]}),
    })
    assert out == {
        "i": 2, "f": 0.5, "b": True, "s": "x", "day": "2024-01-05", "time": "2024-01-05T09:30:00",
        "date": "2024-01-05", "dt64": "2024-01-05", "tuple": [1, 2.0], "array": [1.0, None],
        "path": "a/b", "2024-02-01": 1, "frame": [{"a": 1}, {"a": 2}],
    }
    assert type(out["i"]) is int and type(out["f"]) is float and type(out["b"]) is bool
    json.dumps(out, allow_nan=False)


def test_jsonable_names_where_an_unknown_type_sits() -> None:
    with pytest.raises(ValueError, match=r"doc\['a'\]\[1\] is not JSON-serialisable: object"):
        jsonable({"a": [1, object()]}, "doc")


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": (1, np.nan), "a": np.int64(1)}) == '{"a":1,"b":[1,null]}'


def test_iso() -> None:
    assert iso(pd.Timestamp("2024-01-05")) == "2024-01-05"
    assert iso(pd.Timestamp("2024-01-05", tz="UTC")) == "2024-01-05T00:00:00+00:00"
    assert iso(pd.NaT) is None
    assert iso("text") == "text"


def test_atomic_write_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    assert atomic_write(target, b"one") == target
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_atomic_write_failure_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_library_versions_names_python_and_the_numeric_libraries() -> None:
    versions = library_versions()
    assert {"python", "numpy", "pandas", "scikit-learn", "lightgbm", "hmmlearn"} <= set(versions)
    assert versions["numpy"] == np.__version__


def test_grid_lays_rows_on_a_sorted_grid_and_reads_them_back() -> None:
    frame = pd.DataFrame({"date": pd.to_datetime(["2020-01-03", "2020-01-02", "2020-01-02"]),
                          "ticker": ["B", "B", "A"], "x": [3.0, 2.0, 1.0]})
    grid = Grid.of(frame)
    wide = grid.wide("x")
    assert list(wide.index) == list(pd.to_datetime(["2020-01-02", "2020-01-03"]))
    assert list(wide.columns) == ["A", "B"]
    expected = frame.pivot(index="date", columns="ticker", values="x")
    pd.testing.assert_frame_equal(wide, expected, check_names=False, check_column_type=False)
    assert grid.at(wide.to_numpy() * 10).tolist() == [30.0, 20.0, 10.0]
    assert grid.wide(np.array([1, 2, 3])).to_numpy()[1, 1] == 1.0  # values given in the rows' order


@pytest.mark.parametrize(("frame", "message"), [
    (pd.DataFrame({"date": [1, 1], "ticker": ["A", "A"], "x": [1.0, 2.0]}), r"duplicate \(date, ticker\) rows, e.g. \(1, A\)"),
    (pd.DataFrame({"date": [1, 2], "ticker": ["A", None], "x": [1.0, 2.0]}), "1 rows without a ticker"),
    (pd.DataFrame({"date": [1, None], "ticker": ["A", "B"], "x": [1.0, 2.0]}), "1 rows without a date"),
])
def test_grid_rejects_missing_and_duplicate_keys(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Grid.of(frame)
