"""ml.model_comparison, ml.model_comparison_predictions (replaced per comparison) and
ml.model_selection (one row appended per comparison)."""

import duckdb
import pandas as pd

from assets.warehouse.connection import frame, replace_rows, replace_table, table_exists


def write(con: duckdb.DuckDBPyConnection, comparison: pd.DataFrame, prediction_metrics: pd.DataFrame,
          selection: pd.DataFrame) -> None:
    """The comparison's tables (inside the caller's transaction)."""
    replace_table(con, "ml.model_comparison", comparison)
    replace_table(con, "ml.model_comparison_predictions", prediction_metrics)
    replace_rows(con, "ml.model_selection", selection, "selected_at = ?", [selection["selected_at"].iloc[0]])


def latest_selection(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The newest ml.model_selection row (the last comparison's choice and why), or None."""
    if not table_exists(con, "ml.model_selection"):
        return None
    rows = frame(con, "select * from ml.model_selection order by selected_at desc limit 1")
    return None if rows.empty else rows.iloc[0].to_dict()


def validation_ranking(con: duckdb.DuckDBPyConnection, as_of) -> pd.DataFrame:
    """The validation rows of the comparison of ``as_of``, the chosen order first (passing rows by
    rank, then the others by Sharpe)."""
    if not table_exists(con, "ml.model_comparison"):
        return pd.DataFrame()
    return frame(con, """select model, optimizer, sharpe, max_drawdown, calmar, turnover, passes, score, rank, failed
                         from ml.model_comparison where "window" = 'validation' and as_of = ?
                         order by rank nulls last, sharpe desc nulls last, model, optimizer""", [as_of])
