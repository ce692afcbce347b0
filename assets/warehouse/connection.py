"""Connections, transactions and quoting: the generic part of the warehouse layer."""

import shlex
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the DuckDB file at ``path``, closed on exit (one writer per file)."""
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set enable_progress_bar = false")  # a connection setting: no bar in run logs
    try:
        yield con
    finally:
        con.close()


def shell_command(path: Path) -> str:
    """The shell command that opens the DuckDB file at ``path`` read-only in the DuckDB shell: the
    one installed beside this Python (the duckdb-cli package, `.venv/bin/duckdb`), by absolute
    path, so it works as printed from any folder; both paths quoted for the shell."""
    beside = Path(sys.executable).parent / "duckdb"
    shell = str(beside) if beside.exists() else shutil.which("duckdb") or "duckdb"
    return f"{shlex.quote(shell)} -readonly {shlex.quote(str(path))}"


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All writes inside happen, or none: commit on success, roll back on any error."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def literal(value: str | Path) -> str:
    """``value`` as a SQL string literal (single quotes doubled): for paths in ATTACH or readers."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str) -> str:
    """``schema.table`` with both parts quoted."""
    schema, name = table.split(".")
    return f"{ident(schema)}.{ident(name)}"


def table_exists(con: duckdb.DuckDBPyConnection, table: str, database: str | None = None) -> bool:
    """Whether ``schema.table`` exists as a table or a view (in ``database``, default the
    connection's own)."""
    schema, name = table.split(".")
    return bool(con.execute("select count(*) from information_schema.tables where table_catalog = "
                            "coalesce(?, current_database()) and table_schema = ? and table_name = ?",
                            [database, schema, name]).fetchone()[0])


def columns_of(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    return [c for (c,) in con.execute("select column_name from information_schema.columns where table_schema = ? "
                                      "and table_name = ? order by ordinal_position", [schema, name]).fetchall()]


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    return None if row is None else row[0]


def _as_dates(rows: pd.DataFrame, date_columns: tuple[str, ...]) -> pd.DataFrame:
    cols = [c for c in date_columns if c in rows.columns]
    return rows.assign(**{c: pd.to_datetime(rows[c]).dt.date for c in cols}) if cols else rows


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame, where: str,
                 params: list[Any], date_columns: tuple[str, ...] = ("date",)) -> None:
    """Delete the rows of ``table`` matching ``where`` and insert ``rows`` (inside the caller's
    transaction). The table is created from the frame's columns the first time; columns are
    matched by name, so new columns in the table never break an older frame. Market-date columns
    are stored as DATE."""
    con.execute(f"create schema if not exists {ident(table.split('.')[0])}")
    con.register("_rows", _as_dates(rows, date_columns))
    try:
        con.execute(f"create table if not exists {qualified(table)} as select * from _rows limit 0")
        con.execute(f"delete from {qualified(table)} where {where}", params)
        con.execute(f"insert into {qualified(table)} by name select * from _rows")
    finally:
        con.unregister("_rows")


def replace_table(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame,
                  date_columns: tuple[str, ...] = ("date",)) -> None:
    """Replace ``table`` with ``rows`` as a whole (inside the caller's transaction)."""
    con.execute(f"create schema if not exists {ident(table.split('.')[0])}")
    con.register("_rows", _as_dates(rows, date_columns))
    try:
        con.execute(f"create or replace table {qualified(table)} as select * from _rows")
    finally:
        con.unregister("_rows")


def delete_where(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list[Any]) -> None:
    """Delete matching rows when the table exists (inside the caller's transaction)."""
    if table_exists(con, table):
        con.execute(f"delete from {qualified(table)} where {where}", params)
