"""Small helpers for writing result tables in the warehouse."""

from typing import Any

import duckdb
import pandas as pd


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    schema, table = name.split(".")
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? "
                            "and table_name = ?", [schema, table]).fetchone()[0])


def replace_rows(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, where: str,
                 params: list[Any]) -> None:
    """Delete the rows of ``name`` matching ``where`` and insert ``frame`` (same transaction as
    the caller's). The table is created from the frame's columns the first time; columns are
    matched by name, so new columns in the table never break an older frame."""
    con.execute(f"create schema if not exists {name.split('.')[0]}")
    con.register("_rows", frame)
    try:
        con.execute(f"create table if not exists {name} as select * from _rows limit 0")
        con.execute(f"delete from {name} where {where}", params)
        con.execute(f"insert into {name} by name select * from _rows")
    finally:
        con.unregister("_rows")


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()
