"""Walk-forward training, out-of-sample predictions with uncertainty, and live scoring.

The input is the training panel (``marts.fct_training_panel`` for one horizon):
one row per ``(ticker, date)`` with the feature columns, ``fwd_return``,
``fwd_excess_return`` and ``label_end_date`` (the date the label becomes
known). Three entry points:

* :func:`walk_forward` -- anchored walk-forward CV (:class:`ml.cv.WalkForwardSplit`,
  purged, embargoed, the latest partial window included). One model per fold;
  every test row gets ``yhat``, ``yhat_std`` and ``prob_up``; per-fold metrics
  (``ml.cv_folds``) and a summary (the ``cv_metrics`` of the registry).
* :func:`train_final` -- the model trained as of the latest known label.
* :func:`score_latest` -- scores one date of ``marts.fct_features`` with it.

Point-in-time guarantees (``DESIGN.md`` rules 4, 5, 7)
-----------------------------------------------------
An out-of-sample prediction for a date in fold ``k``'s test window depends
only on rows whose labels were known before that window started, so changing
or deleting every row after a date ``T`` leaves every OOS prediction for
dates ``<= T`` -- ``yhat``, ``yhat_std``, ``prob_up`` and ``model_id`` --
bit-for-bit unchanged:

* fold ``k``'s model trains on rows with ``label_end_date < test_start``
  (purging); anything fitted across dates -- imputation, scaling (inside the
  :mod:`ml.models` pipelines), early stopping -- sees only those rows;
* the target transform is per date (cross-sectional), so it uses no other date;
* LightGBM bins the features **once** for speed, with bin boundaries taken
  from the *first* fold's training rows only: they are anchored at the start
  of the data, like the fold windows, so appending data never moves them
  (binning on the whole panel would let future feature distributions move
  today's splits);
* ``yhat_std`` uses fold ``k``'s model and earlier fold models only;
* ``prob_up`` is calibrated on earlier OOS predictions whose labels ended
  before ``test_start``.

Uncertainty: ``yhat_std``
-------------------------
The sample standard deviation (``ddof=1``), row by row, of the predictions of
the fold's own model and the up to ``uncertainty_models - 1`` previous fold
models: an ensemble over training windows shifted by ``test_days``. It
measures estimation (model) uncertainty -- how much the prediction for this
row depends on which recent window the model learned from -- which is what
a position sizer should discount. It costs no extra training (the models
exist anyway, and all were trained before the test window, so there is no
look-ahead) and works for every model type. It is NaN in the first fold
(one model only). Bagging ``n`` models per fold or quantile models would
multiply the training time by ``n`` (or by the number of quantiles), and
quantile models measure the spread of *returns* (mostly noise for equities)
rather than the uncertainty of the *expected* return. Predictions ``yhat``
themselves come from the fold's own model alone (its ``model_id``).

Probability of an up move: ``prob_up``
-------------------------------------
``P(fwd_return > 0)``: a logistic regression of ``1{fwd_return > 0}`` on
``yhat`` (standardised; sklearn, default L2 ``C=1``), fitted on earlier OOS
predictions whose labels were known before the date scored (walk-forward:
``label_end_date < test_start``; live: ``< the scored date``), from their
last ``calibration_days`` dates (the base rate of up moves drifts with the
market; a bounded window also bounds the cost), clipped to ``[0.01, 0.99]``.
``yhat_std`` is not an input: it is undefined in the first fold and has no
monotone relation to the direction. The intercept carries the base rate of up
moves of the history. ``prob_up`` is NaN where fewer than
``calibration_min_rows`` such predictions (or only one outcome class) exist,
i.e. in the first fold(s): there is nothing honest to calibrate on.

LightGBM
--------
Fitted with the native ``lightgbm.train`` (the :mod:`ml.models` defaults
mapped to native names; ``deterministic`` and ``force_col_wise`` on), early
stopped on the last ``early_stopping_days`` dates of the training window
(purged: training rows whose label ends inside that slice are dropped) by the
mean daily IC of the slice. The booster keeps the best iteration and is not
refitted on the slice (a refit would double the cost). Other model types are
the :mod:`ml.models` pipelines fitted on the whole training window.

Typical use (what the assets do)
--------------------------------
::

    result = walk_forward(panel, spec)
    result.preds_table(), result.folds, result.summary   # ml.preds, ml.cv_folds, cv_metrics
    final = train_final(panel, spec)                     # the champion candidate
    calibrator = fit_prob_up_calibrator(result.predictions, live_date,
                                        spec.calibration_min_rows, spec.calibration_days)
    history = result.models[len(result.models) - (spec.uncertainty_models - 1):]
    score_latest(final, live_features, history, calibrator)  # today's rows of ml.preds
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import expit

from ml import metrics as mt
from ml.common import check_int
from ml.cv import WalkForwardSplit
from ml.models import ModelConfig, available_models, default_params
from ml.registry import (
    FittedModel,
    fingerprint_from_row_hashes,
    model_id_from_fingerprint,
    row_hashes_from_arrays,
    to_model_precision,
)

__all__ = [
    "FOLD_COLUMNS",
    "NON_FEATURE_COLUMNS",
    "PREDS_COLUMNS",
    "TARGETS",
    "ProbUpCalibrator",
    "TrainingSpec",
    "WalkForwardResult",
    "default_features",
    "fit_prob_up_calibrator",
    "load_panel",
    "make_target",
    "score_latest",
    "train_final",
    "walk_forward",
]

TARGETS: tuple[str, ...] = ("rank", "zscore", "raw")
"""Per-date transforms of ``fwd_excess_return`` a model can be trained on."""

NON_FEATURE_COLUMNS: frozenset[str] = frozenset(
    {
        "horizon",
        "fwd_return",
        "fwd_excess_return",
        "close",
        "close_raw",
        "history_days",
        "dollar_volume_20d",
        "target",
    }
)
"""Numeric panel columns that are never default features (labels, raw prices, bookkeeping)."""

PREDS_COLUMNS: tuple[str, ...] = (
    "ticker",
    "date",
    "horizon",
    "model_id",
    "yhat",
    "yhat_std",
    "prob_up",
)
"""Columns of ``ml.preds`` (the analyst contract), in order."""

FOLD_COLUMNS: tuple[str, ...] = (
    "fold",
    "model_id",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "n_train",
    "n_test",
    "max_train_label_end",
    "ic",
    "rank_ic",
    "n_ic_dates",
    "best_iteration",
    "calibration_rows",
)
"""Columns of :attr:`WalkForwardResult.folds` (``ml.cv_folds`` plus diagnostics)."""

_REQUIRED = ("ticker", "date", "label_end_date", "fwd_return", "fwd_excess_return")
_PROB_CLIP = (0.01, 0.99)
_ES_METRICS = ("ic", "l2")

# ml.models (LGBMRegressor) parameter names -> native lightgbm.train names
_LGB_NATIVE = {
    "n_estimators": "num_iterations",
    "min_child_samples": "min_data_in_leaf",
    "min_child_weight": "min_sum_hessian_in_leaf",
    "min_split_gain": "min_gain_to_split",
    "subsample": "bagging_fraction",
    "subsample_freq": "bagging_freq",
    "colsample_bytree": "feature_fraction",
    "reg_alpha": "lambda_l1",
    "reg_lambda": "lambda_l2",
    "n_jobs": "num_threads",
    "random_state": "seed",
    "verbose": "verbosity",
    "boosting_type": "boosting",
    "subsample_for_bin": "bin_construct_sample_cnt",
}
_LGB_SKLEARN_ONLY = frozenset({"importance_type", "class_weight"})


# --------------------------------------------------------------------------- #
# spec
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class TrainingSpec:
    """What to train and how to walk forward; validated on creation.

    Parameters
    ----------
    horizon : int, default=5
        Label horizon in trading days. Rows of other horizons are dropped if
        the panel has a ``horizon`` column.
    target : {"rank", "zscore", "raw"}, default="rank"
        Per-date transform of ``fwd_excess_return`` the model is fitted on
        (see :func:`make_target`). Cross-sectional, so it uses no other date.
    model_type : str, default="lightgbm"
        One of :func:`ml.models.available_models`.
    params : mapping, default={}
        Overrides of :func:`ml.models.default_params` (names checked here).
        Set the seed with ``seed``, not ``random_state``.
    features : sequence of str or None, default=None
        Feature columns in model order; ``None`` means :func:`default_features`
        of the panel.
    train_days : int, default=756
        Training window in distinct dates (about three years); the first
        fold's window (warm-up) when ``expanding``.
    test_days : int, default=63
        Test window and retrain interval in distinct dates (a quarter).
    expanding : bool, default=False
        Train on all dates before the test window instead of the last
        ``train_days``.
    embargo_days : int or None, default=None
        Dates after each test window kept out of later training windows;
        ``None`` means ``horizon``. See :class:`ml.cv.WalkForwardSplit`.
    early_stopping_days : int, default=63
        LightGBM only: the last ``early_stopping_days`` dates of each training
        window are the early-stopping validation slice; training rows whose
        label ends on or after the slice's first date are purged. ``0``
        disables early stopping (``n_estimators`` trees).
    early_stopping_rounds : int, default=50
        LightGBM only: stop when the validation metric has not improved for
        this many rounds; the model keeps the best iteration.
    early_stopping_metric : {"ic", "l2"}, default="ic"
        LightGBM only: ``"ic"`` is the mean over the slice's dates of the
        Pearson correlation between prediction and target (the daily IC,
        higher is better); ``"l2"`` the mean squared error. The default judges
        the model the way it is used -- ranking names on a day; on noisy
        equity targets l2 tends to stop after a tree or two, because the
        cross-sectional signal is tiny next to the noise it is measured on.
    uncertainty_models : int, default=4
        Models in the ``yhat_std`` ensemble (the fold's own and up to
        ``uncertainty_models - 1`` previous ones); ``1`` makes it NaN.
    calibration_min_rows : int, default=100
        Fewest labelled OOS predictions needed to calibrate ``prob_up``.
    calibration_days : int or None, default=756
        ``prob_up`` is calibrated on the OOS predictions of the last
        ``calibration_days`` dates whose labels are known; ``None``: all.
    seed : int, default=0
        Seed of every random choice (``random_state`` of the model).

    Raises
    ------
    ValueError, TypeError
        With the offending value, for any invalid field.

    Examples
    --------
    >>> spec = TrainingSpec(model_type="ridge", params={"alpha": 10.0}, train_days=504)
    >>> spec.effective_embargo_days, spec.resolved_params()["alpha"]
    (5, 10.0)
    >>> TrainingSpec(target="ranked")
    Traceback (most recent call last):
    ...
    ValueError: target must be one of ('rank', 'zscore', 'raw'), got 'ranked'
    """

    horizon: int = 5
    target: str = "rank"
    model_type: str = "lightgbm"
    params: Mapping[str, Any] = field(default_factory=dict)
    features: Sequence[str] | None = None
    train_days: int = 756
    test_days: int = 63
    expanding: bool = False
    embargo_days: int | None = None
    early_stopping_days: int = 63
    early_stopping_rounds: int = 50
    early_stopping_metric: str = "ic"
    uncertainty_models: int = 4
    calibration_min_rows: int = 100
    calibration_days: int | None = 756
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("horizon", self.horizon, 1)
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.model_type not in available_models():
            raise ValueError(
                f"unknown model_type {self.model_type!r}; available: {', '.join(available_models())}"
            )
        if not isinstance(self.params, Mapping):
            raise TypeError(f"params must be a mapping, got {type(self.params).__name__}")
        ModelConfig(self.model_type, self.params)  # raises on unknown parameter names
        object.__setattr__(self, "params", dict(self.params))
        for key in ("random_state", "seed"):
            if key in self.params and self.params[key] != self.seed:
                raise ValueError(
                    f"params[{key!r}]={self.params[key]!r} conflicts with seed={self.seed}; "
                    "set the seed with TrainingSpec(seed=...)"
                )
        if self.features is not None:
            if isinstance(self.features, str) or not isinstance(self.features, Sequence):
                raise TypeError(f"features must be a sequence of column names, got {self.features!r}")
            feats = tuple(self.features)
            if not feats:
                raise ValueError("features is empty; pass None for the default feature set")
            bad = [f for f in feats if not isinstance(f, str)]
            if bad:
                raise TypeError(f"feature names must be strings, got {bad}")
            dupes = sorted({f for f in feats if feats.count(f) > 1})
            if dupes:
                raise ValueError(f"features lists {dupes} more than once")
            reserved = sorted(set(feats) & (NON_FEATURE_COLUMNS | set(_REQUIRED) | {"entry_date"}))
            if reserved:
                raise ValueError(f"features {reserved} are labels or bookkeeping columns, not features")
            object.__setattr__(self, "features", feats)
        train_days = check_int("train_days", self.train_days, 1)
        check_int("test_days", self.test_days, 1)
        if not isinstance(self.expanding, bool):
            raise TypeError(f"expanding must be a bool, got {self.expanding!r}")
        if self.embargo_days is not None:
            check_int("embargo_days", self.embargo_days, 0)
        es_days = check_int("early_stopping_days", self.early_stopping_days, 0)
        check_int("early_stopping_rounds", self.early_stopping_rounds, 1)
        if self.early_stopping_metric not in _ES_METRICS:
            raise ValueError(
                f"early_stopping_metric must be one of {_ES_METRICS}, got {self.early_stopping_metric!r}"
            )
        check_int("uncertainty_models", self.uncertainty_models, 1)
        check_int("calibration_min_rows", self.calibration_min_rows, 2)
        if self.calibration_days is not None:
            check_int("calibration_days", self.calibration_days, 1)
        check_int("seed", self.seed, 0)
        if self.model_type == "lightgbm" and es_days > 0 and es_days + self.horizon >= train_days:
            raise ValueError(
                f"early_stopping_days={es_days} + horizon={self.horizon} must be < "
                f"train_days={train_days}: nothing would be left to train on before the "
                "early-stopping slice"
            )

    @property
    def effective_embargo_days(self) -> int:
        """``embargo_days``, or ``horizon`` when it is ``None``."""
        return self.horizon if self.embargo_days is None else int(self.embargo_days)

    def resolved_params(self) -> dict[str, Any]:
        """Model parameters: :func:`ml.models.default_params` + ``params`` + the seed."""
        return {**default_params(self.model_type), **self.params, "random_state": self.seed}

    def id_settings(self) -> dict[str, Any]:
        """Training settings that change the fitted model (hashed into the model id)."""
        settings: dict[str, Any] = {"horizon": self.horizon, "target": self.target}
        if self.model_type == "lightgbm":
            settings["early_stopping_days"] = self.early_stopping_days
            settings["early_stopping_rounds"] = self.early_stopping_rounds
            settings["early_stopping_metric"] = self.early_stopping_metric
        return settings


# --------------------------------------------------------------------------- #
# panel preparation
# --------------------------------------------------------------------------- #


def default_features(panel: pd.DataFrame) -> tuple[str, ...]:
    """Every numeric, non-boolean column except labels, prices and bookkeeping.

    Excludes :data:`NON_FEATURE_COLUMNS` (``horizon``, ``fwd_return``,
    ``fwd_excess_return``, ``close``, ``close_raw``, ``history_days``,
    ``dollar_volume_20d``), identifiers and dates (``ticker``, ``date``,
    ``entry_date``, ``label_end_date``), strings (``sector``) and booleans
    (``in_universe``). Column order is kept.

    Examples
    --------
    >>> df = pd.DataFrame({"ticker": ["A"], "date": [pd.Timestamp("2024-01-02")],
    ...                    "ret_5d": [0.1], "close": [10.0], "sector": ["Energy"],
    ...                    "in_universe": [True], "vol_20d": [0.2]})
    >>> default_features(df)
    ('ret_5d', 'vol_20d')
    """
    out = []
    for name in panel.columns:
        dtype = panel[name].dtype
        if name in NON_FEATURE_COLUMNS or name in _REQUIRED or name == "entry_date":
            continue
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            continue
        out.append(str(name))
    return tuple(out)


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


def make_target(
    fwd_excess_return: npt.ArrayLike, dates: npt.ArrayLike, target: str
) -> np.ndarray:
    """Per-date transform of the excess return (the training label).

    * ``"rank"``: the cross-sectional rank (ties averaged) mapped to
      ``[-0.5, 0.5]``: ``(rank - 1) / (n - 1) - 0.5``, 0 for a single name;
    * ``"zscore"``: ``(x - mean) / std`` within the date (``ddof=0``), 0 where
      the date's std is 0;
    * ``"raw"``: unchanged.

    Missing values stay missing and do not count in ``n``.

    Examples
    --------
    >>> d = ["a", "a", "a", "b", "b"]
    >>> make_target([0.3, -0.1, 0.2, 5.0, 1.0], d, "rank").tolist()
    [0.5, -0.5, 0.0, 0.5, -0.5]
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    x = pd.Series(np.asarray(fwd_excess_return, dtype=np.float64))
    if target == "raw":
        return x.to_numpy(copy=True)
    keys = pd.Series(np.asarray(dates))
    grouped = x.groupby(keys, sort=False)
    if target == "rank":
        rank = grouped.rank(method="average")
        n = grouped.transform("count")
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(n > 1, (rank - 1.0) / (n - 1.0) - 0.5, 0.0)
        return np.where(x.isna(), np.nan, out)
    mean = grouped.transform("mean")
    std = grouped.transform("std", ddof=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(std > 0, (x - mean) / std, 0.0)
    return np.where(x.isna(), np.nan, out)


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

    # Stored as float32: model precision (see ml.registry.to_model_precision) at half the memory.
    X = np.empty((len(order), len(features)), dtype=np.float32, order="F")
    for j, name in enumerate(features):
        X[:, j] = panel[name].to_numpy(dtype=np.float64, na_value=np.nan)[order]
    inf_cols = [features[j] for j in np.flatnonzero(np.isinf(X).any(axis=0))]
    if inf_cols:
        raise ValueError(f"feature columns {inf_cols} contain infinite values")

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


# --------------------------------------------------------------------------- #
# fitting
# --------------------------------------------------------------------------- #


def _lgb_native_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """``ml.models`` LightGBM params -> (native ``lightgbm.train`` params, num_boost_round)."""
    native: dict[str, Any] = {"objective": "regression", "feature_pre_filter": False}
    for key, value in params.items():
        if key in _LGB_SKLEARN_ONLY or value is None:
            continue
        native[_LGB_NATIVE.get(key, key)] = value
    if native.get("objective") is None:
        native["objective"] = "regression"
    native.setdefault("verbosity", -1)
    native["num_threads"] = max(int(native.get("num_threads") or 1), 1)
    rounds = int(native.pop("num_iterations", 100))
    return native, rounds


def _daily_ic_eval(dates: np.ndarray, target: np.ndarray) -> Any:
    """LightGBM ``feval``: mean over dates of the Pearson IC of prediction vs target.

    Dates with fewer than 3 names or a constant prediction or target are
    skipped; with none left the value is 0 (no ranking skill).
    """
    _, codes = np.unique(dates, return_inverse=True)
    counts = np.bincount(codes).astype(np.float64)
    y = target - (np.bincount(codes, weights=target) / counts)[codes]
    syy = np.bincount(codes, weights=y * y)

    def feval(preds: np.ndarray, _data: Any) -> tuple[str, float, bool]:
        x = preds - (np.bincount(codes, weights=preds, minlength=counts.size) / counts)[codes]
        sxy = np.bincount(codes, weights=x * y, minlength=counts.size)
        sxx = np.bincount(codes, weights=x * x, minlength=counts.size)
        ok = (counts >= 3) & (sxx > 1e-24) & (syy > 0)
        value = float(np.mean(sxy[ok] / np.sqrt(sxx[ok] * syy[ok]))) if ok.any() else 0.0
        return "daily_ic", value, True

    return feval


class _Fitter:
    """Fits one model on rows of a prepared panel (LightGBM on a pre-binned Dataset)."""

    def __init__(self, p: _Prepared, spec: TrainingSpec, bin_rows: np.ndarray) -> None:
        self.p = p
        self.spec = spec
        self.params = spec.resolved_params()
        self.settings = spec.id_settings()
        self._full = None
        if spec.model_type == "lightgbm":
            import lightgbm as lgb

            self._native, self._rounds = _lgb_native_params(self.params)
            label = np.where(np.isnan(p.target), 0.0, p.target)  # unlabelled rows are never trained on
            # bin boundaries from ``bin_rows`` only (the first training window): anchored,
            # so appending data never changes them -- see the module docstring
            if bin_rows.size == p.n:  # binning on every row: one Dataset is enough
                self._full = lgb.Dataset(
                    p.X, label=label, params=self._native, free_raw_data=True
                ).construct()
            else:
                reference = lgb.Dataset(
                    p.X[bin_rows], label=label[bin_rows], params=self._native, free_raw_data=True
                ).construct()
                self._full = lgb.Dataset(
                    p.X, label=label, reference=reference, params=self._native, free_raw_data=True
                ).construct()

    def fit(self, train_idx: np.ndarray, as_of: np.datetime64, where: str) -> FittedModel:
        p, spec = self.p, self.spec
        _check_features_present(p, train_idx, where)
        settings = dict(self.settings)
        if spec.model_type == "lightgbm":
            used, estimator, best = self._fit_lightgbm(train_idx, where)
            settings["best_iteration"] = best
        else:
            from ml.models import get_model

            used = train_idx
            estimator = get_model(spec.model_type, self.params)
            estimator.fit(p.X[used], p.target[used])
        fingerprint = fingerprint_from_row_hashes(p.hashes[used])
        return FittedModel(
            model_id=model_id_from_fingerprint(
                spec.model_type, self.params, p.features, fingerprint, self.settings
            ),
            model_type=spec.model_type,
            horizon=spec.horizon,
            target=spec.target,
            params=dict(self.params),
            features=p.features,
            train_start=pd.Timestamp(p.date[used[0]]),
            train_end=pd.Timestamp(p.date[used[-1]]),
            as_of=pd.Timestamp(as_of),
            n_train=int(used.size),
            data_fingerprint=fingerprint,
            estimator=estimator,
            settings=settings,
        )

    def _fit_lightgbm(self, train_idx: np.ndarray, where: str) -> tuple[np.ndarray, Any, int]:
        import lightgbm as lgb

        p, spec = self.p, self.spec
        assert self._full is not None
        es_days = spec.early_stopping_days
        callbacks = []
        valid_sets = []
        feval = None
        if es_days > 0:
            train_dates = np.unique(p.date[train_idx])
            if train_dates.size <= es_days:
                raise ValueError(
                    f"training window {where} has {train_dates.size} dates, not more than "
                    f"early_stopping_days={es_days}"
                )
            val_start = train_dates[-es_days]
            in_val = p.date[train_idx] >= val_start
            # purge: training rows whose label is realised inside the validation slice
            keep = in_val | (p.train_label_end[train_idx] < val_start)
            fit_idx = train_idx[keep & ~in_val]
            val_idx = train_idx[in_val]
            if fit_idx.size == 0:
                raise ValueError(
                    f"empty training window {where} before the early-stopping slice starting "
                    f"{_day(val_start)}; lower early_stopping_days or raise train_days"
                )
            used = train_idx[keep]
            train_set = self._full.subset(fit_idx, params=self._native)
            valid_sets = [self._full.subset(val_idx, params=self._native)]
            callbacks = [lgb.early_stopping(spec.early_stopping_rounds, verbose=False)]
            if spec.early_stopping_metric == "ic":
                feval = _daily_ic_eval(p.date[val_idx], p.target[val_idx])
        else:
            used = train_idx
            train_set = self._full.subset(train_idx, params=self._native)
        params = self._native
        if feval is not None:
            params = {**params, "metric": "None"}  # only the daily IC below
        booster = lgb.train(
            params,
            train_set,
            num_boost_round=self._rounds,
            valid_sets=valid_sets,
            feval=feval,
            callbacks=callbacks,
        )
        best = int(booster.best_iteration) if booster.best_iteration > 0 else booster.current_iteration()
        # keep exactly the trees used, and drop the reference to the training Dataset
        compact = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        return used, compact, best


# --------------------------------------------------------------------------- #
# prob_up calibration
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ProbUpCalibrator:
    """``prob_up = clip(sigmoid(intercept + slope * yhat), 0.01, 0.99)``.

    Built by :func:`fit_prob_up_calibrator`; ``as_of`` is the first date it
    may score (its labels all ended before it).
    """

    intercept: float
    slope: float
    as_of: pd.Timestamp
    n_obs: int
    up_rate: float

    def predict(self, yhat: npt.ArrayLike) -> np.ndarray:
        """Calibrated ``P(fwd_return > 0)`` for each ``yhat`` (NaN stays NaN)."""
        y = np.asarray(yhat, dtype=np.float64)
        prob = expit(self.intercept + self.slope * y)
        return np.clip(prob, *_PROB_CLIP)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for metadata)."""
        return {
            "intercept": self.intercept,
            "slope": self.slope,
            "as_of": self.as_of.isoformat(),
            "n_obs": self.n_obs,
            "up_rate": self.up_rate,
        }


def _calibration_rows(
    yhat: np.ndarray,
    fwd_return: np.ndarray,
    label_end: np.ndarray,
    date: np.ndarray,
    as_of: np.datetime64,
    days: int | None,
) -> np.ndarray:
    """Rows usable at ``as_of``: label known before it, in the last ``days`` such dates."""
    rows = ~np.isnat(label_end) & (label_end < as_of) & ~np.isnan(yhat) & ~np.isnan(fwd_return)
    if days is not None and rows.any():
        known_dates = np.unique(date[rows])
        if known_dates.size > days:
            rows &= date >= known_dates[-days]
    return rows


def _fit_calibrator(
    yhat: np.ndarray, up: np.ndarray, as_of: np.datetime64
) -> ProbUpCalibrator:
    from sklearn.linear_model import LogisticRegression

    mu = float(yhat.mean())
    sd = float(yhat.std())
    if not (sd > 0 and math.isfinite(sd)):
        sd = 1.0
    z = ((yhat - mu) / sd).reshape(-1, 1)
    model = LogisticRegression(C=1.0, solver="lbfgs", tol=1e-10, max_iter=1000)
    model.fit(z, up.astype(np.int8))
    coef = float(model.coef_[0, 0])
    intercept = float(model.intercept_[0])
    return ProbUpCalibrator(
        intercept=intercept - coef * mu / sd,
        slope=coef / sd,
        as_of=pd.Timestamp(as_of),
        n_obs=int(yhat.size),
        up_rate=float(up.mean()),
    )


def fit_prob_up_calibrator(
    history: pd.DataFrame, as_of: Any, min_rows: int = 100, days: int | None = 756
) -> ProbUpCalibrator:
    """Fit the ``prob_up`` calibration on OOS predictions known before ``as_of``.

    Uses the rows of ``history`` with ``label_end_date < as_of`` and both
    ``yhat`` and ``fwd_return`` present -- the predictions whose outcomes were
    known before the date to be scored, so the calibration has no look-ahead --
    dated within the last ``days`` of their dates.
    For live scoring pass the walk-forward predictions
    (:attr:`WalkForwardResult.predictions`) and the date being scored.

    Parameters
    ----------
    history : DataFrame
        Columns ``date``, ``yhat``, ``fwd_return``, ``label_end_date``.
    as_of : date-like
        The first date the calibrator may score.
    min_rows : int, default=100
        Fewest usable rows (``TrainingSpec.calibration_min_rows``).
    days : int or None, default=756
        Window in distinct dates (``TrainingSpec.calibration_days``); ``None``:
        all of the history.

    Raises
    ------
    ValueError
        If columns are missing, fewer than ``min_rows`` rows qualify, or they
        hold only up moves or only down moves.
    """
    missing = [c for c in ("date", "yhat", "fwd_return", "label_end_date") if c not in history.columns]
    if missing:
        raise ValueError(f"history is missing columns {missing}")
    cutoff = np.datetime64(pd.Timestamp(as_of).as_unit("ns").to_datetime64())
    yhat = history["yhat"].to_numpy(dtype=np.float64, na_value=np.nan)
    ret = history["fwd_return"].to_numpy(dtype=np.float64, na_value=np.nan)
    ends = _as_datetime_ns(history["label_end_date"], "label_end_date")
    dates = _as_datetime_ns(history["date"], "date")
    rows = _calibration_rows(yhat, ret, ends, dates, cutoff, days)
    n = int(rows.sum())
    if n < min_rows:
        raise ValueError(
            f"only {n} OOS predictions with labels known before {pd.Timestamp(as_of).date()}; "
            f"prob_up calibration needs at least min_rows={min_rows}"
        )
    up = ret[rows] > 0
    if up.all() or not up.any():
        raise ValueError(
            f"all {n} OOS predictions known before {pd.Timestamp(as_of).date()} went "
            f"{'up' if up.all() else 'down'}; prob_up cannot be calibrated"
        )
    return _fit_calibrator(yhat[rows], up, cutoff)


# --------------------------------------------------------------------------- #
# walk-forward
# --------------------------------------------------------------------------- #


@dataclass
class WalkForwardResult:
    """Output of :func:`walk_forward`.

    Attributes
    ----------
    folds : DataFrame
        One row per fold, columns :data:`FOLD_COLUMNS` (``ml.cv_folds``):
        nominal window bounds, rows trained on (early-stopping slice
        included) and tested, and the fold's ``ic`` / ``rank_ic`` -- Pearson /
        Spearman correlation of ``yhat`` with ``fwd_excess_return`` per date,
        averaged over the fold's dates (NaN if no date can be scored).
    predictions : DataFrame
        Every test row of every fold, sorted by ``(date, ticker)``:
        :data:`PREDS_COLUMNS` (``ml.preds``) plus ``fold``, ``label_end_date``,
        ``fwd_return`` and ``fwd_excess_return`` (for evaluation and for
        :func:`fit_prob_up_calibrator`; not part of ``ml.preds``).
    models : list of FittedModel
        The fold models, in fold order.
    calibrators : list of ProbUpCalibrator or None
        The ``prob_up`` calibration of each fold (``None``: too little history).
    summary : dict
        Over all OOS predictions with a known label: ``ic``, ``ic_std``,
        ``icir``, ``ic_t_stat``, ``rank_ic``, ``rank_ic_std``, ``rank_icir``,
        ``rank_ic_t_stat``, ``rank_ic_hit_rate``, ``n_dates``,
        ``spread_top_bottom`` (mean top-minus-bottom decile
        ``fwd_excess_return`` per date; NaN with fewer than 10 names per
        date), ``n_predictions``, and for ``prob_up``: ``prob_up_brier``,
        ``prob_up_ece``, ``n_prob_up``. This is the ``cv_metrics`` of the
        registry; ``rank_ic`` is what champion/challenger compares.
    spec : TrainingSpec
    """

    folds: pd.DataFrame
    predictions: pd.DataFrame
    models: list[FittedModel]
    calibrators: list[ProbUpCalibrator | None]
    summary: dict[str, float | int]
    spec: TrainingSpec

    def preds_table(self) -> pd.DataFrame:
        """The predictions with exactly the ``ml.preds`` columns."""
        return self.predictions.loc[:, list(PREDS_COLUMNS)]


def _splitter(spec: TrainingSpec, p: _Prepared) -> WalkForwardSplit:
    return WalkForwardSplit(
        train_days=spec.train_days,
        test_days=spec.test_days,
        expanding=spec.expanding,
        purge=True,
        embargo_days=spec.effective_embargo_days,
        allow_partial_test=True,
        label_end_dates=p.train_label_end,
    )


def _mean_daily_ic(frame: pd.DataFrame, method: str) -> tuple[float, int]:
    ic = mt.daily_ic(frame, "yhat", "fwd_excess_return", method=method)  # type: ignore[arg-type]
    return (float(ic.mean()) if len(ic) else float("nan")), int(len(ic))


def _ensemble_std(preds: list[np.ndarray]) -> np.ndarray:
    if len(preds) < 2:
        return np.full(preds[0].shape, np.nan)
    return np.std(np.vstack(preds), axis=0, ddof=1)


def walk_forward(
    panel: pd.DataFrame, spec: TrainingSpec | None = None, test_from: Any = None
) -> WalkForwardResult:
    """Anchored walk-forward CV with out-of-sample predictions.

    Fold ``k`` tests the dates ``[train_days + k*test_days, ... + test_days)``
    (counted in the panel's distinct dates from its first date; the last,
    possibly partial, window included) and trains on the ``train_days``
    dates before it (all of them if ``expanding``), purged of rows whose label
    ends on or after the test start, with ``embargo_days`` after each earlier
    test window left out. See :class:`ml.cv.WalkForwardSplit`.

    Parameters
    ----------
    panel : DataFrame
        Training panel for one horizon: ``ticker``, ``date``,
        ``label_end_date``, ``fwd_return``, ``fwd_excess_return`` and the
        feature columns; any row order. Rows with a missing label are
        predicted but never trained on.
    spec : TrainingSpec, optional
        Defaults to ``TrainingSpec()``.
    test_from : date-like, optional
        Only the folds whose test window ends on or after this date are
        trained and predicted (the same folds, a shorter history: for
        comparing candidates over a recent span). The folds keep their
        anchoring; LightGBM's bins come from the first fold trained, so
        its predictions can differ slightly from a run over every fold, and
        ``yhat_std`` / ``prob_up`` (built from earlier folds) start afresh.

    Returns
    -------
    WalkForwardResult

    Raises
    ------
    ValueError
        Missing required or feature columns (named); duplicate rows; infinite
        features; a feature that is all-NaN in a training window (named, with
        the window); an empty training window; too few dates for one fold.

    Notes
    -----
    Deterministic: the same panel and spec give bit-identical predictions
    and the same model ids, whatever the row order of the input.
    """
    spec = TrainingSpec() if spec is None else spec
    p = _prepare(panel, spec)
    cv = _splitter(spec, p)
    bounds = cv.fold_bounds(p.date)
    splits: Iterator[tuple[np.ndarray, np.ndarray]] = cv.split(p.X, groups=p.date)

    models: list[FittedModel] = []
    calibrators: list[ProbUpCalibrator | None] = []
    fold_rows: list[dict[str, Any]] = []
    pred_idx: list[np.ndarray] = []
    yhat_parts: list[np.ndarray] = []
    std_parts: list[np.ndarray] = []
    prob_parts: list[np.ndarray] = []
    id_parts: list[np.ndarray] = []
    fold_parts: list[np.ndarray] = []
    fitter: _Fitter | None = None

    first_test_end = None if test_from is None else pd.Timestamp(test_from)
    for bound, (train_idx, test_idx) in zip(bounds, splits, strict=True):
        k = bound.fold
        if first_test_end is not None and bound.test_end < first_test_end:
            continue
        where = f"of fold {k} (window {bound.train_start.date()}..{bound.train_end.date()})"
        if fitter is None:
            _check_features_present(p, train_idx, where)
            fitter = _Fitter(p, spec, bin_rows=train_idx)
        test_start = np.datetime64(bound.test_start.as_unit("ns").to_datetime64())
        as_of = p.date[np.searchsorted(p.date, test_start) - 1]  # last panel date before the test
        model = fitter.fit(train_idx, as_of, where)
        models.append(model)

        X_test = np.ascontiguousarray(p.X[test_idx])
        yhat = model.predict_array(X_test)
        ensemble = [yhat] + [m.predict_array(X_test) for m in models[-spec.uncertainty_models : -1]]
        yhat_std = _ensemble_std(ensemble)

        # prob_up: calibrate on earlier folds' OOS predictions known before test_start
        calibrator = None
        n_cal = 0
        if pred_idx:
            hist_idx = np.concatenate(pred_idx)
            hist_yhat = np.concatenate(yhat_parts)
            rows = _calibration_rows(
                hist_yhat,
                p.fwd_return[hist_idx],
                p.label_end[hist_idx],
                p.date[hist_idx],
                test_start,
                spec.calibration_days,
            )
            n_cal = int(rows.sum())
            up = p.fwd_return[hist_idx][rows] > 0
            if n_cal >= spec.calibration_min_rows and up.any() and not up.all():
                calibrator = _fit_calibrator(hist_yhat[rows], up, test_start)
        calibrators.append(calibrator)
        prob_up = calibrator.predict(yhat) if calibrator is not None else np.full(yhat.shape, np.nan)

        pred_idx.append(test_idx)
        yhat_parts.append(yhat)
        std_parts.append(yhat_std)
        prob_parts.append(prob_up)
        id_parts.append(np.full(test_idx.size, model.model_id, dtype=object))
        fold_parts.append(np.full(test_idx.size, k, dtype=np.int64))

        scored = pd.DataFrame(
            {"date": p.date[test_idx], "yhat": yhat, "fwd_excess_return": p.fwd_excess[test_idx]}
        )
        ic, n_ic = _mean_daily_ic(scored, "pearson")
        rank_ic, _ = _mean_daily_ic(scored, "spearman")
        fold_rows.append(
            {
                "fold": k,
                "model_id": model.model_id,
                "train_start": bound.train_start,
                "train_end": bound.train_end,
                "test_start": bound.test_start,
                "test_end": bound.test_end,
                "n_train": model.n_train,
                "n_test": int(test_idx.size),
                # the latest label any training row saw: must be before test_start (purging)
                "max_train_label_end": pd.Timestamp(p.label_end[train_idx].max()),
                "ic": ic,
                "rank_ic": rank_ic,
                "n_ic_dates": n_ic,
                "best_iteration": model.settings.get("best_iteration", np.nan),
                "calibration_rows": n_cal,
            }
        )

    if not pred_idx:
        raise ValueError(f"no fold's test window ends on or after test_from={first_test_end.date()}: "
                         f"the last fold ends on {bounds[-1].test_end.date()}")
    idx = np.concatenate(pred_idx)
    predictions = pd.DataFrame(
        {
            "ticker": p.ticker[idx],
            "date": p.date[idx],
            "horizon": np.full(idx.size, spec.horizon, dtype=np.int64),
            "model_id": np.concatenate(id_parts),
            "yhat": np.concatenate(yhat_parts),
            "yhat_std": np.concatenate(std_parts),
            "prob_up": np.concatenate(prob_parts),
            "fold": np.concatenate(fold_parts),
            "label_end_date": p.label_end[idx],
            "fwd_return": p.fwd_return[idx],
            "fwd_excess_return": p.fwd_excess[idx],
        }
    )
    folds = pd.DataFrame(fold_rows, columns=list(FOLD_COLUMNS))
    folds["best_iteration"] = folds["best_iteration"].astype("float64")
    return WalkForwardResult(
        folds=folds,
        predictions=predictions,
        models=models,
        calibrators=calibrators,
        summary=_summary(predictions),
        spec=spec,
    )


def _summary(predictions: pd.DataFrame) -> dict[str, float | int]:
    """Whole-run OOS metrics (``cv_metrics``)."""
    nan = float("nan")
    out: dict[str, float | int] = {"n_predictions": int(len(predictions))}
    labelled = predictions[predictions["fwd_excess_return"].notna()]
    for method, prefix in (("pearson", "ic"), ("spearman", "rank_ic")):
        daily = mt.daily_ic(labelled, "yhat", "fwd_excess_return", method=method)  # type: ignore[arg-type]
        if len(daily):
            s = mt.ic_summary(daily)
            out[prefix] = s["mean"]
            out[f"{prefix}_std"] = s["std"]
            out[f"{'' if prefix == 'ic' else 'rank_'}icir"] = s["icir"]
            out[f"{prefix}_t_stat"] = s["t_stat"]
            out[f"{prefix}_hit_rate"] = s["hit_rate"]
            out["n_dates"] = s["n_dates"]
        else:
            for suffix in ("", "_std", "_t_stat", "_hit_rate"):
                out[f"{prefix}{suffix}"] = nan
            out[f"{'' if prefix == 'ic' else 'rank_'}icir"] = nan
            out["n_dates"] = 0
    try:  # no date with 10 names, or predictions too tied to cut into deciles (a constant model)
        out["spread_top_bottom"], _ = mt.quantile_spread(labelled, "yhat", "fwd_excess_return", 10)
    except ValueError:
        out["spread_top_bottom"] = nan
    cal = predictions[predictions["prob_up"].notna() & predictions["fwd_return"].notna()]
    out["n_prob_up"] = int(len(cal))
    if len(cal):
        outcome = (cal["fwd_return"].to_numpy() > 0).astype(float)
        out["prob_up_brier"] = mt.brier(outcome, cal["prob_up"].to_numpy())
        out["prob_up_ece"] = mt.calibration_error(cal["prob_up"].to_numpy(), outcome)
    else:
        out["prob_up_brier"] = nan
        out["prob_up_ece"] = nan
    return out


# --------------------------------------------------------------------------- #
# final model and live scoring
# --------------------------------------------------------------------------- #


def train_final(
    panel: pd.DataFrame, spec: TrainingSpec | None = None, as_of: Any | None = None
) -> FittedModel:
    """Train the production model as of ``as_of`` (default: the latest ``label_end_date``).

    Uses only rows whose label was known by ``as_of`` (``label_end_date <=
    as_of``, rule 4): the last ``train_days`` of their dates (all of them if
    ``expanding``), with the same early stopping as the folds. LightGBM
    bins the features on these training rows.

    Raises
    ------
    ValueError
        As :func:`walk_forward`; "empty training window" when no row has a
        label known by ``as_of``.
    """
    spec = TrainingSpec() if spec is None else spec
    p = _prepare(panel, spec)
    known = ~np.isnat(p.train_label_end)
    if not known.any():
        raise ValueError("empty training window: no row of the panel has a known label")
    cutoff = (
        p.train_label_end[known].max()
        if as_of is None
        else np.datetime64(pd.Timestamp(as_of).as_unit("ns").to_datetime64())
    )
    eligible = np.flatnonzero(known & (p.train_label_end <= cutoff))
    if eligible.size == 0:
        raise ValueError(
            f"empty training window: no row has label_end_date <= {pd.Timestamp(cutoff).date()}"
        )
    dates = np.unique(p.date[eligible])
    if not spec.expanding and dates.size > spec.train_days:
        eligible = eligible[p.date[eligible] >= dates[-spec.train_days]]
    where = f"as of {pd.Timestamp(cutoff).date()}"
    _check_features_present(p, eligible, where)
    rows = p.take(eligible)
    everything = np.arange(rows.n)
    return _Fitter(rows, spec, bin_rows=everything).fit(everything, cutoff, where)


def score_latest(
    model: FittedModel,
    features: pd.DataFrame,
    history_models: Sequence[FittedModel] = (),
    calibrator: ProbUpCalibrator | None = None,
) -> pd.DataFrame:
    """Score one date of features (``marts.fct_features``) for ``ml.preds``.

    Parameters
    ----------
    model : FittedModel
        The production model (:func:`train_final`); it gives ``yhat`` and the
        ``model_id``.
    features : DataFrame
        ``ticker``, ``date`` (a single date) and the model's feature columns.
        If it has an ``in_universe`` column only its true rows are scored.
    history_models : sequence of FittedModel, default=()
        Earlier models for ``yhat_std``, normally the last
        ``uncertainty_models - 1`` walk-forward fold models; ``yhat_std`` is
        the sample std across ``model`` and these (NaN if there are none).
    calibrator : ProbUpCalibrator or None
        From :func:`fit_prob_up_calibrator` with ``as_of`` = the scored date;
        ``None`` leaves ``prob_up`` NaN.

    Returns
    -------
    DataFrame
        :data:`PREDS_COLUMNS`, one row per ticker, sorted by ticker.

    Raises
    ------
    ValueError
        Several dates, duplicate tickers, missing feature columns, models of
        another horizon, or a model / calibrator trained with labels from
        after the scored date (look-ahead).
    """
    missing = [c for c in ("ticker", "date") if c not in features.columns]
    if missing:
        raise ValueError(f"features frame is missing columns {missing}")
    frame = features
    if "in_universe" in frame.columns:
        frame = frame[frame["in_universe"].fillna(False).astype(bool).to_numpy()]
    if frame.empty:
        raise ValueError("no rows to score (after the in_universe filter)")
    dates = pd.to_datetime(frame["date"]).unique()
    if len(dates) != 1:
        raise ValueError(f"score_latest scores one date at a time, got {len(dates)} dates")
    date = pd.Timestamp(dates[0])
    if frame["ticker"].duplicated().any():
        dupes = frame.loc[frame["ticker"].duplicated(), "ticker"].tolist()[:5]
        raise ValueError(f"duplicate tickers in the features frame: {dupes}")
    frame = frame.sort_values("ticker", kind="stable")
    for m in (model, *history_models):
        if m.horizon != model.horizon:
            raise ValueError(f"model {m.model_id} has horizon {m.horizon}, not {model.horizon}")
        if m.as_of > date:
            raise ValueError(
                f"model {m.model_id} was trained with labels up to {m.as_of.date()}, after the "
                f"scored date {date.date()} (look-ahead)"
            )
    if calibrator is not None and calibrator.as_of > date:
        raise ValueError(
            f"calibrator as of {calibrator.as_of.date()} uses labels known after the scored "
            f"date {date.date()} (look-ahead)"
        )
    yhat = model.predict(frame)
    ensemble = [yhat] + [m.predict(frame) for m in history_models]
    out = pd.DataFrame(
        {
            "ticker": frame["ticker"].astype(str).to_numpy(),
            "date": np.full(len(frame), date.as_unit("ns").to_datetime64()),
            "horizon": np.full(len(frame), model.horizon, dtype=np.int64),
            "model_id": model.model_id,
            "yhat": yhat,
            "yhat_std": _ensemble_std(ensemble),
            "prob_up": calibrator.predict(yhat) if calibrator is not None else np.nan,
        }
    )
    return out.reset_index(drop=True)
