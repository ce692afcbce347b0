"""ml.model_registry: one declared schema, artifact paths relative to the home."""


import duckdb
import pandas as pd
import pytest

from assets.warehouse import registry
from assets.warehouse.connection import columns_of, transaction


def test_the_registry_table_has_every_declared_column_even_when_rows_lack_some():
    con = duckdb.connect()
    row = {"model_id": "m1", "status": "champion", "horizon": 5, "created_at": pd.Timestamp("2020-01-01")}
    with transaction(con):
        registry.write(con, pd.DataFrame([row]))
    assert columns_of(con, "ml.model_registry") == list(registry.REGISTRY_COLUMNS)
    assert {"optimizer", "selection"} <= set(registry.REGISTRY_COLUMNS)
    assert registry.champion(con, 5)["model_id"] == "m1" and registry.champion_optimizer(con, 5) is None


def test_a_column_outside_the_schema_is_an_error():
    con = duckdb.connect()
    with pytest.raises(ValueError, match=r"\['colour'\] are not in the ml.model_registry schema"):
        registry.write(con, pd.DataFrame([{"model_id": "m1", "colour": "red"}]))


def test_an_older_registry_gains_the_missing_columns():
    con = duckdb.connect()
    con.execute("create schema ml; create table ml.model_registry (model_id varchar, status varchar, horizon integer)")
    with transaction(con):
        registry.write(con, pd.DataFrame([{"model_id": "m1", "status": "champion", "horizon": 5, "optimizer": "hrp"}]))
    assert registry.champion_optimizer(con, 5) == "hrp"


def test_artifact_paths_are_stored_relative_to_the_home(tmp_path):
    home = tmp_path / "home"
    stored = registry.relative_artifact(home, home / "models" / "abc" / "abc")
    assert stored == "models/abc/abc"
    assert registry.artifact(tmp_path / "copy", stored) == tmp_path / "copy" / "models" / "abc" / "abc"


def test_an_absolute_path_of_an_older_registry_reads_this_homes_models(tmp_path):
    assert (registry.artifact(tmp_path, "/elsewhere/home/models/abc/abc")
            == tmp_path / "models" / "abc" / "abc")
    with pytest.raises(ValueError, match="outside any models folder"):
        registry.artifact(tmp_path, "/elsewhere/abc")
