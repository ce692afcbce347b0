"""Loading the training panel (``marts.fct_training_panel``) for one horizon."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ml.training.spec import default_features


def load_panel(con: Any, horizon: int, features: Sequence[str] | None = None) -> pd.DataFrame:
    """Read one horizon of ``marts.fct_training_panel`` for :func:`walk_forward`, lean.

    Only the keys, the labels and the feature columns (``features``, default
    :func:`default_features` of the panel's columns) are read, and features
    arrive as float32 (model precision): about half the memory of ``select *``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection to the warehouse.
    horizon : int
        Label horizon to read.
    features : sequence of str, optional
        Feature columns; ``None`` for the default set.
    """
    empty = con.execute("select * from marts.fct_training_panel limit 0").df()
    names = list(features) if features is not None else list(default_features(empty))
    missing = [f for f in names if f not in empty.columns]
    if missing:
        raise ValueError(f"marts.fct_training_panel has no feature columns {missing}")
    columns = ", ".join(["ticker", "date", "horizon", "label_end_date", "fwd_return", "fwd_excess_return"]
                        + [f'cast("{f}" as float) as "{f}"' for f in names])
    return con.execute(
        f"select {columns} from marts.fct_training_panel where horizon = ? order by date, ticker", [horizon]
    ).df()
