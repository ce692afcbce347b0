"""ml.regimes (filtered regime probabilities per date) and ml.regime_models (the walk-forward models)."""

import duckdb
import pandas as pd

from assets.warehouse.connection import frame, replace_table, scalar, table_exists


def write(con: duckdb.DuckDBPyConnection, history: pd.DataFrame, models: pd.DataFrame) -> None:
    """Replace the regime history and its models as a whole (inside the caller's transaction)."""
    replace_table(con, "ml.regimes", history.sort_values("date"))
    replace_table(con, "ml.regime_models", models)


def history(con: duckdb.DuckDBPyConnection, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Every date's regime and probabilities (up to ``until`` when given)."""
    if until is None:
        return frame(con, "select * from ml.regimes order by date")
    return frame(con, "select * from ml.regimes where date <= ? order by date", [until.date()])


def regime_on(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> str:
    """The regime of ``day``; an error naming the latest regime date when there is none."""
    row = con.execute("select regime from ml.regimes where date = ?", [day.date()]).fetchone()
    if row is None or row[0] is None:
        last = scalar(con, "select max(date) from ml.regimes")
        raise ValueError(f"no regime for {day.date()} in ml.regimes (latest regime date: {last}); "
                         f"materialize ml/regimes with data up to that date")
    return row[0]


def regime_row(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> pd.DataFrame:
    return frame(con, "select * from ml.regimes where date = ?", [day.date()])


def latest(con: duckdb.DuckDBPyConnection) -> pd.Series | None:
    rows = frame(con, "select * from ml.regimes order by date desc limit 1")
    return None if rows.empty else rows.iloc[0]


def first_date(con: duckdb.DuckDBPyConnection):
    return scalar(con, "select min(date) from ml.regimes") if table_exists(con, "ml.regimes") else None


def latest_model(con: duckdb.DuckDBPyConnection) -> pd.Series:
    """The ml.regime_models row of the model in force for the newest dates."""
    return frame(con, "select * from ml.regime_models order by first_date desc limit 1").iloc[0]
