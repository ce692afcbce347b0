"""Content hashes: row hashes, data fingerprints and model ids.

A model's id is a content hash of its inputs (:func:`model_id`), so the same inputs give
the same id (re-running a job is idempotent), and appending data never changes the id of a
model whose training rows did not change (point-in-time rules 5 and 7 in ``DESIGN.md``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml.common import canonical_json

# Parameters that change how fast a model is fitted, not what it is: left out of
# the id so the same model gets the same id on a 2-core laptop and a 64-core server.
# (LightGBM is fitted with deterministic=True, so its result does not depend on
# the thread count; random forests can differ in the last bit of a prediction.)
_ID_IGNORED_PARAMS = frozenset({"n_jobs", "num_threads", "verbose", "verbosity"})


_ID_LENGTH = 16


_ROW_HASH_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime


# --------------------------------------------------------------------------- #
# content hashes
# --------------------------------------------------------------------------- #
def to_model_precision(values: npt.ArrayLike) -> np.ndarray:
    """Round values to float32 precision (kept as float64): what every model sees and hashes.

    DuckDB's parallel window aggregates can differ in the last bit of a double from one build
    to the next, even on the same rows. Rounded to float32 (24-bit mantissa) those doubles agree
    unless one straddles a rounding boundary (a chance of about 1e-9 per value), so model ids,
    fits and predictions are reproducible; the lost precision (~1e-7 relative) is far below any
    feature's noise.
    """
    return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)


def row_hashes(
    frame: pd.DataFrame, features: Sequence[str], label: str = "target"
) -> np.ndarray:
    """One 64-bit hash per row of ``ticker``, ``date``, ``label`` and the features.

    The hash of a row depends only on that row's values (pandas'
    :func:`~pandas.util.hash_array` per column, combined column by column), so
    the hashes of a subset of rows are the subset of the hashes: a training
    window hashes the same whether it is cut from a short or a long panel.

    Values are put in canonical types first -- ticker as ``str``, date as
    int64 nanoseconds, label as float64, features at model precision
    (:func:`to_model_precision`) -- so the same data read
    through DuckDB, CSV or Parquet (``datetime64[us]`` vs ``[ns]``, ``float32``,
    ``string`` dtypes) hashes the same.

    Parameters
    ----------
    frame : DataFrame
        Has ``ticker``, ``date``, ``label`` and every column of ``features``.
    features : sequence of str
        Feature columns, in model order.
    label : str, default="target"
        Name of the training label column.

    Returns
    -------
    ndarray of uint64, shape (len(frame),)
    """
    missing = [c for c in ("ticker", "date", label, *features) if c not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the training frame; it has {list(frame.columns)}")
    dates = pd.to_datetime(frame["date"])
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return row_hashes_from_arrays(
        frame["ticker"].astype(str).to_numpy(dtype=object),
        dates.dt.as_unit("ns").to_numpy(),
        frame[label].to_numpy(dtype=np.float64, na_value=np.nan),
        [to_model_precision(frame[f].to_numpy(dtype=np.float64, na_value=np.nan)) for f in features],
    )


def row_hashes_from_arrays(
    ticker: np.ndarray,
    date: np.ndarray,
    label: np.ndarray,
    feature_columns: Sequence[np.ndarray] | np.ndarray,
) -> np.ndarray:
    """:func:`row_hashes` from aligned arrays already in canonical types.

    ``ticker`` an object array of ``str``, ``date`` ``datetime64[ns]``,
    ``label`` float64, ``feature_columns`` float64 columns (a sequence of
    1-D arrays, or a 2-D array whose columns are the features, in order).
    """
    if isinstance(feature_columns, np.ndarray):
        feature_columns = [feature_columns[:, j] for j in range(feature_columns.shape[1])]
    dates = np.asarray(date, dtype="datetime64[ns]").view(np.int64)
    columns = [np.asarray(ticker, dtype=object), dates, np.asarray(label, dtype=np.float64)]
    columns += [np.asarray(c, dtype=np.float64) for c in feature_columns]
    out = np.zeros(len(columns[0]), dtype=np.uint64)
    for values in columns:
        out *= _ROW_HASH_MULTIPLIER  # wraps modulo 2**64
        out ^= pd.util.hash_array(np.ascontiguousarray(values), categorize=values.dtype == object)
    return out


def fingerprint_from_row_hashes(hashes: npt.NDArray[np.uint64]) -> str:
    """SHA-256 (first 16 hex digits) of row hashes, in the given row order."""
    arr = np.ascontiguousarray(np.asarray(hashes, dtype=np.uint64).astype("<u8", copy=False))
    return hashlib.sha256(arr.tobytes()).hexdigest()[:_ID_LENGTH]


def data_fingerprint(frame: pd.DataFrame, features: Sequence[str], label: str = "target") -> str:
    """Fingerprint of a set of training rows, independent of their order.

    Rows are sorted by ``(date, ticker)`` and hashed with :func:`row_hashes`.

    Examples
    --------
    >>> df = pd.DataFrame({"ticker": ["B", "A"], "date": pd.to_datetime(["2024-01-02"] * 2),
    ...                    "target": [0.5, -0.5], "x": [1.0, 2.0]})
    >>> data_fingerprint(df, ["x"]) == data_fingerprint(df.iloc[::-1], ["x"])
    True
    """
    ordered = _sorted_rows(frame)
    return fingerprint_from_row_hashes(row_hashes(ordered, features, label))


def _sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    if "date" not in frame.columns or "ticker" not in frame.columns:
        raise ValueError(f"the training frame needs 'ticker' and 'date'; it has {list(frame.columns)}")
    keys = pd.DataFrame(
        {"date": pd.to_datetime(frame["date"]).to_numpy(), "ticker": frame["ticker"].astype(str).to_numpy()}
    )
    order = np.lexsort((keys["ticker"].to_numpy(), keys["date"].to_numpy()))
    return frame.iloc[order]


def _id_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in _ID_IGNORED_PARAMS}


def model_id_from_fingerprint(
    model_type: str,
    params: Mapping[str, Any],
    features: Sequence[str],
    fingerprint: str,
    settings: Mapping[str, Any] | None = None,
) -> str:
    """:func:`model_id` from an already computed :func:`data_fingerprint`."""
    config = {
        "model_type": model_type,
        "params": _id_params(params),
        "features": list(features),
        "settings": dict(settings or {}),
    }
    digest = hashlib.sha256()
    digest.update(canonical_json(config).encode())
    digest.update(b"\n")
    digest.update(fingerprint.encode())
    return digest.hexdigest()[:_ID_LENGTH]


def model_id(
    model_type: str,
    params: Mapping[str, Any],
    features: Sequence[str],
    train_frame: pd.DataFrame,
    settings: Mapping[str, Any] | None = None,
    label: str = "target",
) -> str:
    """Content hash of a model's inputs: 16 hex digits of SHA-256.

    Hashes a canonical JSON of ``(model_type, params, features, settings)``
    together with :func:`data_fingerprint` of the training rows. Thread-count
    and verbosity parameters (``n_jobs``, ``num_threads``, ``verbose``,
    ``verbosity``) are left out: they do not change the fitted model.

    Parameters
    ----------
    model_type : str
        E.g. ``"lightgbm"``.
    params : mapping
        The resolved model parameters (defaults merged with overrides).
    features : sequence of str
        Feature columns in model order (order matters).
    train_frame : DataFrame
        The rows fitted on: ``ticker``, ``date``, ``label`` and the features,
        any row order.
    settings : mapping, optional
        Other training settings that change the model (target transform,
        horizon, early-stopping window), hashed with the params.
    label : str, default="target"
        Name of the label column in ``train_frame``.

    Returns
    -------
    str
        Same inputs, same id; any change in type, params, features, settings
        or any training value gives a different id.
    """
    return model_id_from_fingerprint(
        model_type, params, features, data_fingerprint(train_frame, features, label), settings
    )
