"""raw.prices, raw.macro and raw.instruments: swapped together, or not at all.

The ingest stages and checks every input first (ml.ingest.stage_*, temporary tables of the
connection); only then are the three raw tables replaced, in one transaction. A bad input of
any of the three fails before anything is written, so the warehouse keeps its previous tables."""

import duckdb

from assets.warehouse.connection import scalar, transaction
from ml.ingest import StagedInput

RAW_TABLES = ("raw.prices", "raw.macro", "raw.instruments")


def swap(con: duckdb.DuckDBPyConnection, staged: list[StagedInput]) -> None:
    """Replace each staged input's raw table with its rows, all in one transaction."""
    unknown = sorted({s.table for s in staged} - set(RAW_TABLES))
    if unknown:
        raise ValueError(f"not raw tables: {unknown} (expected {RAW_TABLES})")
    with transaction(con):
        con.execute("create schema if not exists raw")
        for item in staged:
            con.execute(f"create or replace table {item.table} as {item.select}")


def latest_price_date(con: duckdb.DuckDBPyConnection):
    return scalar(con, "select max(cast(date as date)) from raw.prices")


def tickers_without_sector(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tickers of raw.prices that raw.instruments does not list."""
    return [t for (t,) in con.execute("""
        select distinct trim(p.ticker) from raw.prices p
        where not exists (select 1 from raw.instruments i where trim(i.ticker) = trim(p.ticker))
        order by 1""").fetchall()]


def repeated_bars(con: duckdb.DuckDBPyConnection, day) -> tuple[int, int]:
    """(bars of ``day`` identical to the same ticker's previous bar, bars of ``day`` with a previous bar)."""
    return con.execute("""
        with bars as (
            select ticker, date, open, high, low, close, volume,
                   lag(struct_pack(open, high, low, close, volume)) over (partition by ticker order by date) as previous
            from (select distinct ticker, date, open, high, low, close, volume from raw.prices)
            where date <= ?)
        select count(*) filter (where previous = struct_pack(open, high, low, close, volume)),
               count(*) filter (where previous is not null)
        from bars where date = ?""", [day, day]).fetchone()


def macro_series(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [s for (s,) in con.execute("select distinct series from raw.macro order by 1").fetchall()]
