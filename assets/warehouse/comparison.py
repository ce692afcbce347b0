"""ml.model_comparison, ml.model_comparison_predictions (replaced per comparison) and
ml.model_selection (one row appended per comparison)."""

import duckdb
import pandas as pd

from assets.warehouse.connection import replace_rows, replace_table


def write(con: duckdb.DuckDBPyConnection, comparison: pd.DataFrame, prediction_metrics: pd.DataFrame,
          selection: pd.DataFrame) -> None:
    """The comparison's tables (inside the caller's transaction)."""
    replace_table(con, "ml.model_comparison", comparison)
    replace_table(con, "ml.model_comparison_predictions", prediction_metrics)
    replace_rows(con, "ml.model_selection", selection, "selected_at = ?", [selection["selected_at"].iloc[0]])

