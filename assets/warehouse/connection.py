"""Connections, transactions and quoting: the generic part of the warehouse layer."""

import datetime as dt
import shlex
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from assets.warehouse import schema


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


def _check_values(table: str, rows: pd.DataFrame, types: Mapping[str, str]) -> None:
    """Values that would change when cast to their declared type raise: a time of day in a DATE
    column, a fraction in a count."""
    for column, kind in types.items():
        if column not in rows.columns or rows.empty:
            continue
        values = rows[column]
        if kind == schema.DATE and (pd.api.types.is_datetime64_any_dtype(values) or values.map(
                lambda v: isinstance(v, (dt.datetime, np.datetime64))).any()):
            stamps = pd.to_datetime(values)
            timed = stamps.notna() & (stamps != stamps.dt.normalize())
            if timed.any():
                raise ValueError(f"{table}.{column} is a DATE column; {int(timed.sum())} value(s) have a time "
                                 f"of day, e.g. {stamps[timed].iloc[0]}")
        elif kind.upper() in schema.INTEGER_TYPES and pd.api.types.is_float_dtype(values):
            fraction = values.notna() & (values != np.trunc(values))
            if fraction.any():
                raise ValueError(f"{table}.{column} is a count ({kind.upper()}); {int(fraction.sum())} value(s) "
                                 f"are not whole numbers, e.g. {values[fraction].iloc[0]!r}")


def typed_select(table: str, rows: pd.DataFrame, types: Mapping[str, str]) -> str:
    """The select over the registered ``_rows`` that casts its declared columns (after
    :func:`_check_values`)."""
    _check_values(table, rows, types)
    empty = {str(c): schema.VARCHAR for c in rows.columns
             if c not in types and rows[c].dtype == object and rows[c].isna().all()}
    casts = [f"cast({ident(c)} as {kind}) as {ident(c)}" for c, kind in {**empty, **types}.items()
             if c in rows.columns]
    return f"select * replace ({', '.join(casts)}) from _rows" if casts else "select * from _rows"


def _same_type(current: str, declared: str) -> bool:
    current, declared = current.upper(), declared.upper()
    return current == declared or (current in schema.INTEGER_TYPES and declared in schema.INTEGER_TYPES)


def conform(con: duckdb.DuckDBPyConnection, table: str, types: Mapping[str, str]) -> list[str]:
    """Give ``table``'s existing columns their declared types where an older version created them
    otherwise (TIMESTAMP dates, DOUBLE counts, VARCHAR JSON); returns the columns converted."""
    schema_name, name = table.split(".")
    current = dict(con.execute("select column_name, data_type from information_schema.columns where "
                               "table_catalog = current_database() and table_schema = ? and table_name = ?",
                               [schema_name, name]).fetchall())
    changed = [c for c, kind in types.items() if c in current and not _same_type(current[c], kind)]
    for column in changed:
        con.execute(f"alter table {qualified(table)} alter column {ident(column)} set data type {types[column]}")
    return changed


def _add_new_columns(con: duckdb.DuckDBPyConnection, table: str, typed: str) -> None:
    """Add to ``table`` the columns of the select ``typed`` it does not have yet, with their types."""
    schema_name, name = table.split(".")
    have = {c for (c,) in con.execute("select column_name from information_schema.columns where table_catalog = "
                                      "current_database() and table_schema = ? and table_name = ?",
                                      [schema_name, name]).fetchall()}
    for column, kind, *_ in con.execute(f"describe {typed}").fetchall():
        if column not in have:
            con.execute(f"alter table {qualified(table)} add column {ident(column)} {kind}")


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame, where: str,
                 params: list[Any]) -> None:
    """Delete the rows of ``table`` matching ``where`` and insert ``rows`` (inside the caller's
    transaction). The table is created from the frame's columns the first time; columns are
    matched by name, so new columns in the table never break an older frame, and a column the
    frame adds is added to the table (earlier rows NULL). Columns get the types ``schema.py``
    declares for the table (dates DATE, counts BIGINT, JSON JSON)."""
    types = schema.types_of(table)
    con.execute(f"create schema if not exists {ident(table.split('.')[0])}")
    con.register("_rows", rows)
    try:
        typed = typed_select(table, rows, types)
        con.execute(f"create table if not exists {qualified(table)} as {typed} limit 0")
        _add_new_columns(con, table, typed)
        conform(con, table, types)
        con.execute(f"delete from {qualified(table)} where {where}", params)
        con.execute(f"insert into {qualified(table)} by name {typed}")
    finally:
        con.unregister("_rows")


def replace_table(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame) -> None:
    """Replace ``table`` with ``rows`` as a whole (inside the caller's transaction), with the
    types ``schema.py`` declares for it."""
    con.execute(f"create schema if not exists {ident(table.split('.')[0])}")
    con.register("_rows", rows)
    try:
        typed = typed_select(table, rows, schema.types_of(table))
        con.execute(f"create or replace table {qualified(table)} as {typed}")
    finally:
        con.unregister("_rows")


def delete_where(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list[Any]) -> None:
    """Delete matching rows when the table exists (inside the caller's transaction)."""
    if table_exists(con, table):
        con.execute(f"delete from {qualified(table)} where {where}", params)
