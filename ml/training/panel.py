"""The panel prepared once for training: sorted, typed arrays (:class:`_Prepared`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.training.hashing import (
    row_hashes_from_arrays,
    to_model_precision,
)
from ml.training.normalize import normalize_by_date
from ml.training.spec import _REQUIRED, TrainingSpec, default_features
from ml.training.targets import make_target


@dataclass
class _Prepared:
    """The panel as aligned arrays, rows sorted by (date, ticker)."""

    ticker: np.ndarray  # object (str)
    date: np.ndarray  # datetime64[ns]
    label_end: np.ndarray  # datetime64[ns], NaT where unknown
    train_label_end: np.ndarray  # label_end, NaT where the target is missing too
    fwd_return: np.ndarray
    fwd_excess: np.ndarray
    target: np.ndarray
    X: np.ndarray  # float64, (n, n_features), Fortran order
    features: tuple[str, ...]
    hashes: np.ndarray  # uint64 row hashes (ticker, date, target, features)

    @property
    def n(self) -> int:
        return self.ticker.shape[0]

    def take(self, idx: np.ndarray) -> _Prepared:
        """The rows ``idx`` (ascending keeps the (date, ticker) order)."""
        return _Prepared(
            ticker=self.ticker[idx],
            date=self.date[idx],
            label_end=self.label_end[idx],
            train_label_end=self.train_label_end[idx],
            fwd_return=self.fwd_return[idx],
            fwd_excess=self.fwd_excess[idx],
            target=self.target[idx],
            X=np.asfortranarray(self.X[idx]),
            features=self.features,
            hashes=self.hashes[idx],
        )


def _as_datetime_ns(values: pd.Series, name: str) -> np.ndarray:
    try:
        series = pd.to_datetime(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r} could not be read as dates: {exc}") from exc
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.dt.as_unit("ns").to_numpy()


def _prepare(panel: pd.DataFrame, spec: TrainingSpec, *, labelled: bool = True) -> _Prepared:
    """Validate the panel and lay it out as arrays sorted by (date, ticker)."""
    if not isinstance(panel, pd.DataFrame):
        raise TypeError(f"panel must be a pandas DataFrame, got {type(panel).__name__}")
    required = _REQUIRED if labelled else ("ticker", "date")
    missing = [c for c in required if c not in panel.columns]
    if missing:
        raise ValueError(f"panel is missing required columns {missing}")
    if "horizon" in panel.columns:
        same = panel["horizon"].to_numpy() == spec.horizon
        if not same.all():
            panel = panel[same]
    if panel.empty:
        raise ValueError(f"panel has no rows for horizon {spec.horizon}")
    features = spec.features if spec.features is not None else default_features(panel)
    if not features:
        raise ValueError("panel has no numeric feature columns; pass TrainingSpec(features=...)")
    missing = [f for f in features if f not in panel.columns]
    if missing:
        raise ValueError(f"panel is missing feature columns {missing}")
    non_numeric = [
        f
        for f in features
        if pd.api.types.is_bool_dtype(panel[f].dtype) or not pd.api.types.is_numeric_dtype(panel[f].dtype)
    ]
    if non_numeric:
        raise ValueError(f"feature columns {non_numeric} are not numeric")
    if panel["ticker"].isna().any() or panel["date"].isna().any():
        raise ValueError("panel has rows with a missing ticker or date")

    date = _as_datetime_ns(panel["date"], "date")
    ticker = panel["ticker"].astype(str).to_numpy(dtype=object)
    codes, _ = pd.factorize(ticker, sort=True)  # integer codes in string order: fast sort
    order = np.lexsort((codes, date))
    date, ticker = date[order], ticker[order]
    dup = (date[1:] == date[:-1]) & (ticker[1:] == ticker[:-1])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise ValueError(
            f"panel has {int(dup.sum())} duplicate (ticker, date) rows, e.g. "
            f"({ticker[i]}, {pd.Timestamp(date[i]).date()})"
        )

    # Stored as float32: model precision (see ml.training.to_model_precision) at half the memory.
    X = np.empty((len(order), len(features)), dtype=np.float32, order="F")
    for j, name in enumerate(features):
        X[:, j] = panel[name].to_numpy(dtype=np.float64, na_value=np.nan)[order]
    inf_cols = [features[j] for j in np.flatnonzero(np.isinf(X).any(axis=0))]
    if inf_cols:
        raise ValueError(f"feature columns {inf_cols} contain infinite values")
    X = np.asfortranarray(normalize_by_date(X, date, spec.normalize))

    if labelled:
        label_end = _as_datetime_ns(panel["label_end_date"], "label_end_date")[order]
        fwd_return = panel["fwd_return"].to_numpy(dtype=np.float64, na_value=np.nan)[order]
        fwd_excess = to_model_precision(
            panel["fwd_excess_return"].to_numpy(dtype=np.float64, na_value=np.nan)[order]
        )
    else:
        label_end = np.full(len(order), np.datetime64("NaT"), dtype="datetime64[ns]")
        fwd_return = np.full(len(order), np.nan)
        fwd_excess = np.full(len(order), np.nan)
    target = make_target(fwd_excess, date, spec.target)
    train_label_end = np.where(np.isnan(target), np.datetime64("NaT"), label_end).astype(
        "datetime64[ns]"
    )
    hashes = row_hashes_from_arrays(ticker, date, target, X)
    return _Prepared(
        ticker=ticker,
        date=date,
        label_end=label_end,
        train_label_end=train_label_end,
        fwd_return=fwd_return,
        fwd_excess=fwd_excess,
        target=target,
        X=X,
        features=tuple(features),
        hashes=hashes,
    )


def _day(value: np.datetime64) -> str:
    return str(pd.Timestamp(value).date())


def _check_features_present(p: _Prepared, idx: np.ndarray, where: str) -> None:
    """Raise if a feature is NaN in every row of ``idx``."""
    if idx.size == 0:
        raise ValueError(f"empty training window ({where})")
    head = idx[:1000]  # nearly always decides; the full column only for the doubtful ones
    empty = [
        name
        for j, name in enumerate(p.features)
        if np.isnan(p.X[head, j]).all() and np.isnan(p.X[idx, j]).all()
    ]
    if empty:
        raise ValueError(
            f"features {empty} are all-NaN in the training window {where}: {idx.size} rows "
            f"dated {_day(p.date[idx[0]])}..{_day(p.date[idx[-1]])}; drop them from "
            "TrainingSpec.features or start the data later"
        )
