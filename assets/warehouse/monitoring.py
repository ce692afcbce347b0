"""ml.monitoring_ic, ml.feature_drift and ml.monitoring_log: the model-health record of each decision date."""

import duckdb
import pandas as pd

from assets.warehouse.connection import frame, replace_rows


def write(con: duckdb.DuckDBPyConnection, as_of: pd.Timestamp, ic: pd.DataFrame, drift: pd.DataFrame,
          log: pd.DataFrame) -> None:
    """Replace the record of ``as_of`` as a whole (inside the caller's transaction)."""
    d = as_of.date()
    for table, rows in (("ml.monitoring_ic", ic), ("ml.feature_drift", drift), ("ml.monitoring_log", log)):
        replace_rows(con, table, rows.assign(as_of=d), "as_of = ?", [d])


def ic_on(con: duckdb.DuckDBPyConnection, as_of: pd.Timestamp) -> pd.DataFrame:
    return frame(con, "select date, rank_ic, rolling_rank_ic from ml.monitoring_ic where as_of = ? order by date",
                 [as_of.date()])


def log_on(con: duckdb.DuckDBPyConnection, as_of: pd.Timestamp) -> str | None:
    row = con.execute("select log from ml.monitoring_log where as_of = ?", [as_of.date()]).fetchone()
    return None if row is None else row[0]
