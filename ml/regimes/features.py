"""Regime feature preparation: the default features and the gap-checked forward fill."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ml.common import check_int
from ml.regimes.filtering import (
    _as_float_matrix,
    _check_columns,
    _check_date_index,
    _check_finite,
)

#: Regime feature columns of ``marts.fct_regime_features`` used when ``features=None``.
DEFAULT_FEATURES: tuple[str, ...] = (
    "vix",
    "vix_pct_252d",
    "gspc_vol_20d",
    "gspc_ret_20d",
    "gspc_ret_60d",
    "gspc_drawdown_252d",
    "term_spread",
    "term_spread_chg_20d",
    "hy_spread",
    "hy_spread_chg_20d",
)


# --------------------------------------------------------------------------- input preparation
def prepare_regime_features(
    df: pd.DataFrame,
    features: Sequence[str] | None = None,
    max_ffill: int = 5,
) -> pd.DataFrame:
    """Turn ``marts.fct_regime_features`` rows into detector input.

    Drops the leading warm-up rows (up to the first date where every feature is
    present), then forward-fills gaps of at most ``max_ffill`` consecutive rows.
    Forward-filling only carries past values forward, so no row gains information
    from a later date.

    Parameters
    ----------
    df : DataFrame
        Indexed by date, or with a ``date`` column (then used as the index).
    features : sequence of str, optional
        Columns to keep, in order; ``None`` means :data:`DEFAULT_FEATURES`.
    max_ffill : int, default=5
        Longest run of missing values (in rows) that is filled.

    Returns
    -------
    DataFrame
        Date-indexed, only the feature columns, float64, no NaN.

    Raises
    ------
    ValueError
        A missing feature column, a feature never complete, a non-finite value, or a
        gap longer than ``max_ffill`` (naming the column, the first missing date and
        the gap length).

    Examples
    --------
    >>> idx = pd.bdate_range("2024-01-01", periods=4)
    >>> raw = pd.DataFrame({"vix": [None, 12.0, None, 14.0]}, index=idx)
    >>> prepare_regime_features(raw, ["vix"], max_ffill=1)["vix"].tolist()
    [12.0, 12.0, 14.0]
    """
    check_int("max_ffill", max_ffill, 0)
    cols = list(DEFAULT_FEATURES) if features is None else [str(c) for c in features]
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    frame = df
    if not isinstance(frame.index, pd.DatetimeIndex) and "date" in frame.columns:
        frame = frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame["date"]), name="date"))
    _check_date_index(frame, "df")
    _check_columns(frame, cols, "df")
    values = _as_float_matrix(frame, cols)
    if np.isinf(values).any():
        _check_finite(np.where(np.isnan(values), 0.0, values), frame.index, cols, "df")
    complete = ~np.isnan(values).any(axis=1)
    if not complete.any():
        never = [c for j, c in enumerate(cols) if np.isnan(values[:, j]).all()]
        raise ValueError(
            f"df has no date where all features are present "
            f"({len(frame)} rows; never present: {never or 'none, but never together'})"
        )
    first = int(np.argmax(complete))
    values = values[first:]
    index = frame.index[first:]
    for j, col in enumerate(cols):
        missing = np.isnan(values[:, j])
        if not missing.any():
            continue
        # Runs of consecutive missing rows: starts where missing begins, ends where it stops.
        edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        lengths = np.flatnonzero(edges == -1) - starts
        too_long = np.flatnonzero(lengths > max_ffill)
        if too_long.size:
            k = int(too_long[0])
            raise ValueError(
                f"feature {col!r} is missing for {int(lengths[k])} consecutive rows starting "
                f"{index[starts[k]].date()}, longer than max_ffill={max_ffill}"
            )
    out = pd.DataFrame(values, index=index, columns=cols).ffill(limit=max_ffill)
    out.index.name = frame.index.name or "date"
    return out
