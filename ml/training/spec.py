"""The training spec (:class:`TrainingSpec`) and the default feature list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ml.common import check_int
from ml.training.feature_selection import SELECTIONS
from ml.training.models import ModelConfig, available_models, default_params
from ml.training.normalize import NORMALIZATIONS

TARGETS: tuple[str, ...] = ("rank", "zscore", "raw")
"""Per-date transforms of ``fwd_excess_return`` a model can be trained on."""

LABEL_PRICES: tuple[str, ...] = ("open", "close")
"""The labels of ``marts.fct_labels``: next open to open (``fwd_return``), next close to close
(``fwd_return_close``)."""


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


_REQUIRED = ("ticker", "date", "label_end_date", "fwd_return", "fwd_excess_return")


_ES_METRICS = ("ic", "l2")


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
        One of :func:`ml.training.available_models`.
    params : mapping, default={}
        Overrides of :func:`ml.training.default_params` (names checked here).
        Set the seed with ``seed``, not ``random_state``.
    features : sequence of str or None, default=None
        Feature columns in model order; ``None`` means :func:`default_features`
        of the panel.
    label_price : {"open", "close"}, default="open"
        Which label the panel's ``fwd_return`` / ``fwd_excess_return`` hold:
        next open to the open ``horizon`` days later, or next close to close
        (``marts.fct_labels``). The panel's provider picks the columns; the
        spec records the choice with the model.
    normalize : {"none", "rank", "robust_zscore"}, default="none"
        Per-date cross-sectional transform of every feature, from the rows of
        the panel on that date (:mod:`ml.training.normalize`); scoring applies
        the model's own.
    feature_selection : {"none", "mutual_info", "lightgbm"}, default="none"
        How each training window chooses ``max_features`` columns, from its own
        labelled rows only (:mod:`ml.training.feature_selection`).
    max_features : int, default=0
        Columns kept by ``feature_selection``; 0 keeps every column.
    train_days : int, default=756
        Training window in distinct dates (about three years); the first
        fold's window (warm-up) when ``expanding``.
    test_days : int, default=63
        Test window and retrain interval in distinct dates (a quarter).
    expanding : bool, default=False
        Train on all dates before the test window instead of the last
        ``train_days``.
    date_stride : int, default=1
        Fit on every ``date_stride``-th date of a training window only,
        counted in the panel's distinct dates from its first date (anchored,
        like the folds, so appending data never changes which dates a window
        keeps). The labels of neighbouring dates share ``horizon - 1`` days of
        return, so a stride up to ``horizon`` drops mostly repeated
        information and divides the rows fitted by the stride. LightGBM's
        early-stopping slice keeps every date (and its bins, fitted once,
        every row), so its fits gain less than the stride.
    embargo_days : int or None, default=None
        Dates after each test window kept out of later training windows;
        ``None`` means ``horizon``. See :class:`ml.training.WalkForwardSplit`.
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
    label_price: str = "open"
    normalize: str = "none"
    feature_selection: str = "none"
    max_features: int = 0
    train_days: int = 756
    test_days: int = 63
    expanding: bool = False
    date_stride: int = 1
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
        for name, value, allowed in (("label_price", self.label_price, LABEL_PRICES),
                                     ("normalize", self.normalize, NORMALIZATIONS),
                                     ("feature_selection", self.feature_selection, SELECTIONS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        check_int("max_features", self.max_features, 0)
        train_days = check_int("train_days", self.train_days, 1)
        check_int("test_days", self.test_days, 1)
        if not isinstance(self.expanding, bool):
            raise TypeError(f"expanding must be a bool, got {self.expanding!r}")
        check_int("date_stride", self.date_stride, 1)
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
        """Model parameters: :func:`ml.training.default_params` + ``params`` + the seed."""
        return {**default_params(self.model_type), **self.params, "random_state": self.seed}

    def id_settings(self) -> dict[str, Any]:
        """Training settings that change the fitted model (hashed into the model id)."""
        settings: dict[str, Any] = {"horizon": self.horizon, "target": self.target}
        # the recipe beyond the defaults (a default leaves the id of a model trained before it existed)
        for name, default in (("label_price", "open"), ("normalize", "none"), ("feature_selection", "none")):
            if getattr(self, name) != default:
                settings[name] = getattr(self, name)
        if self.feature_selection != "none":
            settings["max_features"] = self.max_features
        if self.date_stride != 1:
            settings["date_stride"] = self.date_stride
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


FEATURE_SETS: tuple[str, ...] = ("base", "alpha158", "all")
"""Feature sets a model can be trained on (``[training] feature_set``)."""

ALPHA158_PREFIX = "a158_"
"""Prefix of the columns of ``marts.fct_alpha158`` (Qlib's Alpha158 names in lower case)."""

ALPHA158_COUNT = 158


def feature_set_columns(columns: Sequence[str], feature_set: str) -> tuple[str, ...]:
    """The feature columns of ``feature_set`` among default feature columns ``columns``.

    ``"base"`` keeps the columns of ``marts.fct_features`` (no ``a158_`` prefix),
    ``"alpha158"`` the 158 Alpha158 columns, ``"all"`` both; order is kept.

    Examples
    --------
    >>> feature_set_columns(["ret_5d", "a158_kmid"], "base")
    ('ret_5d',)
    """
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"feature_set must be one of {FEATURE_SETS}, got {feature_set!r}")
    alpha = tuple(c for c in columns if c.startswith(ALPHA158_PREFIX))
    if feature_set != "base" and len(alpha) != ALPHA158_COUNT:
        raise ValueError(f"feature_set {feature_set!r} needs the {ALPHA158_COUNT} Alpha158 columns "
                         f"({ALPHA158_PREFIX}*), the panel has {len(alpha)}: build marts.fct_alpha158")
    base = tuple(c for c in columns if not c.startswith(ALPHA158_PREFIX))
    return {"base": base, "alpha158": alpha, "all": base + alpha}[feature_set]
