"""Helpers that turn values, frames and charts into Dagster metadata. Every asset and check passes
its metadata through :func:`entries`, so numbers read the same everywhere in the UI."""

import base64
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from ml.common import rounded


def _plain(value: Any) -> Any:
    """``value`` with every float rounded (:func:`ml.common.rounded`) and numpy scalars made
    Python's, inside dicts and lists too."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return rounded(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def entries(values: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata for a MaterializeResult or AssetCheckResult: floats rounded to 4 significant digits
    (at least 2 decimals), also inside JSON values; NaN stays NaN. Other values pass unchanged."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dg.JsonMetadataValue):
            value = dg.MetadataValue.json(_plain(value.data))
        elif isinstance(value, dg.FloatMetadataValue) and value.value is not None:
            value = dg.MetadataValue.float(rounded(value.value))
        elif not isinstance(value, dg.MetadataValue):
            value = _plain(value)
        out[key] = value
    return out


def chart(png: bytes, path: Path) -> dg.MetadataValue:
    """Markdown showing the PNG inline; the file is also written to ``path`` for reports."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![chart](data:image/png;base64,{encoded})\n\n`{path}`")


def _whole(column: pd.Series) -> bool:
    values = column.dropna()
    return pd.api.types.is_float_dtype(column) and len(values) > 0 and bool(
        np.isfinite(values).all() and (values == np.trunc(values)).all())


def table(frame: pd.DataFrame, floatfmt: str = ",") -> dg.MetadataValue:
    """A small frame as a markdown table: floats rounded as :func:`entries` does (a column of whole
    numbers shown as integers), thousands separated, dates without a time of day, missing as "-"."""
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if _whole(values):
            shown[column] = pd.Series([None if pd.isna(v) else int(v) for v in values], index=shown.index,
                                      dtype=object)
        elif pd.api.types.is_float_dtype(values):
            shown[column] = pd.Series([rounded(v) if math.isfinite(v) else None for v in values],
                                      index=shown.index, dtype=object)
        elif pd.api.types.is_datetime64_any_dtype(values):
            stamps = values.dropna()
            if len(stamps) and (stamps == stamps.dt.normalize()).all():
                shown[column] = values.dt.strftime("%Y-%m-%d")
    return dg.MetadataValue.md(shown.to_markdown(floatfmt=floatfmt, intfmt=",", missingval="-"))
