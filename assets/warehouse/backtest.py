"""The trading.backtest_* tables: replaced as a whole on every backtest."""

import duckdb
import pandas as pd

from assets.warehouse.connection import frame, replace_table, scalar

TABLES = ("backtest_daily", "backtest_summary", "backtest_regimes", "backtest_weights", "backtest_trades",
          "backtest_positions")


def write(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    """Replace every backtest table (name -> rows), inside the caller's transaction."""
    if set(tables) != set(TABLES):
        raise ValueError(f"a backtest writes {TABLES}, got {sorted(tables)}")
    for name, rows in tables.items():
        replace_table(con, f"trading.{name}", rows)


def history_as_of(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Backtest rows whose return ended by ``day``, and the stored summary when no row ended
    later (None otherwise: the caller recomputes the metrics from the rows it got)."""
    d = day.date()
    daily = frame(con, """select date, strategy, gross_return, net_return, turnover, equity from trading.backtest_daily
                          where return_end_date <= ? order by date, strategy""", [d])
    later = scalar(con, "select count(*) from trading.backtest_daily where return_end_date > ?", [d])
    summary = frame(con, "select * from trading.backtest_summary") if later == 0 else None
    return daily, summary


def summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return frame(con, "select * from trading.backtest_summary")
