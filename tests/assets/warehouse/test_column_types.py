"""The writers give every table its declared column types (assets/warehouse/schema.py): dates DATE,
counts BIGINT, JSON JSON; they refuse values the cast would change, and convert a table an older
version created with other types."""

import json

import duckdb
import pandas as pd
import pytest

from assets.warehouse import registry
from assets.warehouse.connection import replace_rows, replace_table, transaction


def _types(con, table: str) -> dict[str, str]:
    schema, name = table.split(".")
    return dict(con.execute("select column_name, data_type from information_schema.columns "
                            "where table_schema = ? and table_name = ?", [schema, name]).fetchall())


def test_dates_counts_and_json_get_their_types():
    con = duckdb.connect()
    daily = pd.DataFrame({"date": pd.to_datetime(["2017-11-09", "2017-11-10"]),        # datetime64
                          "trade_date": pd.to_datetime(["2017-11-10", "2017-11-13"]),
                          "strategy": ["model", "gspc"], "n_names": [20.0, float("nan")],  # float counts
                          "net_return": [0.01, -0.02]})
    replace_table(con, "trading.backtest_daily", daily)
    assert _types(con, "trading.backtest_daily") == {"date": "DATE", "trade_date": "DATE", "strategy": "VARCHAR",
                                                     "n_names": "BIGINT", "net_return": "DOUBLE"}
    assert con.execute("select n_names from trading.backtest_daily order by date").fetchall() == [(20,), (None,)]
    log = pd.DataFrame({"as_of": [pd.Timestamp("2017-11-10").date()], "log": [json.dumps({"ic": {"n": 99}})]})
    replace_rows(con, "ml.monitoring_log", log, "as_of = ?", [log["as_of"].iloc[0]])
    assert _types(con, "ml.monitoring_log") == {"as_of": "DATE", "log": "JSON"}
    assert con.execute("select log->'ic'->>'n' from ml.monitoring_log").fetchone() == ("99",)


def test_undeclared_tables_keep_the_date_default_and_all_null_text_is_varchar():
    con = duckdb.connect()
    rows = pd.DataFrame({"date": pd.to_datetime(["2020-01-02"]), "note": [None], "x": [1.5]})
    replace_table(con, "ops.anything", rows)
    assert _types(con, "ops.anything") == {"date": "DATE", "note": "VARCHAR", "x": "DOUBLE"}


def test_a_selection_without_a_winner_does_not_type_the_names_integer():
    con = duckdb.connect()
    first = pd.DataFrame([{"selected_at": pd.Timestamp("2020-01-02 18:00"), "as_of": pd.Timestamp("2020-01-02"),
                           "winner_model": None, "deflated_sharpe": None, "n_trials": 24, "spec": "{}"}])
    replace_rows(con, "ml.model_selection", first, "selected_at = ?", [first["selected_at"].iloc[0]])
    second = first.assign(selected_at=pd.Timestamp("2020-01-03 18:00"), winner_model="ridge", deflated_sharpe=0.4)
    replace_rows(con, "ml.model_selection", second, "selected_at = ?", [second["selected_at"].iloc[0]])
    assert _types(con, "ml.model_selection") == {"selected_at": "TIMESTAMP", "as_of": "DATE",
                                                 "winner_model": "VARCHAR", "deflated_sharpe": "DOUBLE",
                                                 "n_trials": "BIGINT", "spec": "JSON"}
    assert con.execute("select winner_model from ml.model_selection order by selected_at").fetchall() == [
        (None,), ("ridge",)]


@pytest.mark.parametrize(("column", "value", "message"), [
    ("date", pd.Timestamp("2020-01-02 10:30"), r"trading.backtest_daily.date is a DATE column; 1 value\(s\) have "
                                               r"a time of day, e.g. 2020-01-02 10:30:00"),
    ("n_names", 2.5, r"trading.backtest_daily.n_names is a count \(BIGINT\); 1 value\(s\) are not whole numbers"),
])
def test_values_a_cast_would_change_raise(column, value, message):
    rows = pd.DataFrame({"date": [pd.Timestamp("2020-01-02")], "n_names": [3.0]}).assign(**{column: [value]})
    with pytest.raises(ValueError, match=message):
        replace_table(duckdb.connect(), "trading.backtest_daily", rows)


def test_invalid_json_raises():
    with pytest.raises(duckdb.ConversionException, match="Malformed JSON"):
        replace_table(duckdb.connect(), "ml.monitoring_log", pd.DataFrame({"log": ["{not json"]}))


def test_a_table_of_an_older_version_is_converted_on_its_next_write():
    con = duckdb.connect()
    con.execute("create schema ml")
    con.execute("create table ml.cv_folds (model_id varchar, fold bigint, test_start timestamp_ns, "
                "best_iteration double)")
    con.execute("insert into ml.cv_folds values ('m1', 0, '2016-01-04', 58.0)")
    folds = pd.DataFrame({"model_id": ["m2"], "fold": [0], "test_start": pd.to_datetime(["2016-04-04"]),
                          "best_iteration": [float("nan")]})
    with transaction(con):
        replace_rows(con, "ml.cv_folds", folds, "model_id = ?", ["m2"])
    assert _types(con, "ml.cv_folds") == {"model_id": "VARCHAR", "fold": "BIGINT", "test_start": "DATE",
                                          "best_iteration": "BIGINT"}
    assert con.execute("select model_id, test_start::varchar, best_iteration from ml.cv_folds "
                       "order by model_id").fetchall() == [("m1", "2016-01-04", 58), ("m2", "2016-04-04", None)]


def test_the_registry_stores_dates_and_json():
    con = duckdb.connect()
    con.execute("create schema ml")  # an older registry: timestamps and JSON as text
    con.execute("create table ml.model_registry (model_id varchar primary key, created_at timestamp, "
                "train_start timestamp, train_end timestamp, cv_metrics varchar, status varchar)")
    row = {"model_id": "m1", "created_at": pd.Timestamp("2020-01-03 09:15"), "model_type": "ridge", "horizon": 5,
           "train_start": pd.Timestamp("2017-01-03"), "train_end": pd.Timestamp("2019-12-31"),
           "features": json.dumps(["a", "b"]), "params": "{}", "cv_metrics": json.dumps({"rank_ic": 0.01}),
           "status": "champion", "as_of": pd.Timestamp("2020-01-02")}
    with transaction(con):
        registry.write(con, pd.DataFrame([row]))
    types = _types(con, "ml.model_registry")
    assert {k: types[k] for k in ("created_at", "train_start", "train_end", "as_of", "features", "params",
                                  "cv_metrics", "selection", "horizon", "n_train")} == {
        "created_at": "TIMESTAMP", "train_start": "DATE", "train_end": "DATE", "as_of": "DATE",
        "features": "JSON", "params": "JSON", "cv_metrics": "JSON", "selection": "JSON", "horizon": "INTEGER",
        "n_train": "BIGINT"}
    loaded = registry.load(con).iloc[0]  # readers get pandas timestamps and JSON text, as before
    assert loaded["train_end"] == pd.Timestamp("2019-12-31") and json.loads(loaded["cv_metrics"]) == {"rank_ic": 0.01}
