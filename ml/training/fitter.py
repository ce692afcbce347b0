"""Fitting one model on a training window: native LightGBM with early stopping, or the :mod:`ml.training.models` pipelines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ml.training.artifacts import FittedModel
from ml.training.feature_selection import select_features
from ml.training.hashing import (
    fingerprint_from_row_hashes,
    model_id_from_fingerprint,
)
from ml.training.panel import _check_features_present, _day, _Prepared
from ml.training.spec import TrainingSpec

# ml.training.models (LGBMRegressor) parameter names -> native lightgbm.train names
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
# fitting
# --------------------------------------------------------------------------- #
def _lgb_native_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """``ml.training.models`` LightGBM params -> (native ``lightgbm.train`` params, num_boost_round)."""
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


def stride_rows(dates: np.ndarray, stride: int, calendar: np.ndarray | None = None) -> np.ndarray:
    """Rows on every ``stride``-th date of ``calendar`` (sorted distinct dates holding every date
    of ``dates``; default the distinct ``dates``), counted from its first date.

    >>> d = np.array(["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-04"], dtype="datetime64[ns]")
    >>> stride_rows(d, 2).tolist()
    [True, True, False, True]
    >>> stride_rows(d[2:], 2, calendar=np.unique(d)).tolist()
    [False, True]
    """
    if stride == 1:
        return np.ones(dates.shape, dtype=bool)
    code = np.unique(dates, return_inverse=True)[1] if calendar is None else np.searchsorted(calendar, dates)
    return code % stride == 0


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

    def __init__(self, p: _Prepared, spec: TrainingSpec, bin_rows: np.ndarray,
                 on_stride: np.ndarray | None = None) -> None:
        self.p = p
        self.spec = spec
        # rows a fit may use: every date_stride-th date (spec.date_stride), anchored at p's first date
        self._on_stride = stride_rows(p.date, spec.date_stride) if on_stride is None else on_stride
        self.params = spec.resolved_params()
        self.settings = spec.id_settings()
        self._full = None
        if spec.model_type == "lightgbm":
            import lightgbm as lgb

            self._native, self._rounds = _lgb_native_params(self.params)
            label = np.where(np.isnan(p.target), 0.0, p.target)  # unlabelled rows are never trained on
            # bin boundaries from ``bin_rows`` only (the first training window): anchored,
            # so appending data never changes them -- see the module docstring. A window that
            # chooses its own columns bins them on its own rows instead (see _dataset).
            selects = spec.feature_selection != "none" and 0 < spec.max_features < len(p.features)
            if selects:
                pass  # no panel-wide Dataset: each window bins its own columns
            elif bin_rows.size == p.n:  # binning on every row: one Dataset is enough
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
        strided = train_idx[self._on_stride[train_idx]]
        if strided.size == 0:
            raise ValueError(f"empty training window {where}: none of its {np.unique(p.date[train_idx]).size} "
                             f"dates is on the date_stride={spec.date_stride} grid; lower date_stride")
        if spec.date_stride > 1:  # the rows fitted, not only the window, need a value of every feature
            _check_features_present(p, strided, where)
        chosen = select_features(p.X[strided], p.target[strided], p.features, spec.feature_selection,
                                 spec.max_features, spec.seed)
        cols = None if chosen.columns.size == len(p.features) else chosen.columns
        features = p.features if cols is None else tuple(p.features[j] for j in cols)
        if chosen.scores:
            settings["feature_scores"] = {f: chosen.scores[f] for f in features}
        if spec.model_type == "lightgbm":
            used, estimator, best = self._fit_lightgbm(train_idx, where, cols)
            settings["best_iteration"] = best
        else:
            from ml.parallel import fit_thread_limits
            from ml.training.models import get_model

            used = strided
            estimator = get_model(spec.model_type, self.params)
            with fit_thread_limits():
                estimator.fit(p.X[used] if cols is None else p.X[used][:, cols], p.target[used])
        fingerprint = fingerprint_from_row_hashes(p.hashes[used])
        return FittedModel(
            model_id=model_id_from_fingerprint(
                spec.model_type, self.params, features, fingerprint, self.settings
            ),
            model_type=spec.model_type,
            horizon=spec.horizon,
            target=spec.target,
            params=dict(self.params),
            features=features,
            train_start=pd.Timestamp(p.date[used[0]]),
            train_end=pd.Timestamp(p.date[used[-1]]),
            as_of=pd.Timestamp(as_of),
            n_train=int(used.size),
            data_fingerprint=fingerprint,
            estimator=estimator,
            settings=settings,
        )

    def _dataset(self, rows: np.ndarray, cols: np.ndarray | None, reference: Any = None) -> Any:
        """The rows of the pre-binned panel Dataset, or, for a window's own columns, a Dataset
        binned on the window's rows (validation rows: on the training rows' bins)."""
        import lightgbm as lgb

        if cols is None:
            assert self._full is not None
            return self._full.subset(rows, params=self._native)
        label = np.where(np.isnan(self.p.target[rows]), 0.0, self.p.target[rows])
        return lgb.Dataset(np.ascontiguousarray(self.p.X[rows][:, cols]), label=label, reference=reference,
                           params=self._native, free_raw_data=True)

    def _fit_lightgbm(self, train_idx: np.ndarray, where: str,
                      cols: np.ndarray | None = None) -> tuple[np.ndarray, Any, int]:
        import lightgbm as lgb

        p, spec = self.p, self.spec
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
            keep = in_val | ((p.train_label_end[train_idx] < val_start) & self._on_stride[train_idx])
            fit_idx = train_idx[keep & ~in_val]
            val_idx = train_idx[in_val]
            if fit_idx.size == 0:
                stride = f", lower date_stride ({spec.date_stride})" if spec.date_stride > 1 else ""
                raise ValueError(
                    f"empty training window {where} before the early-stopping slice starting "
                    f"{_day(val_start)}; lower early_stopping_days{stride} or raise train_days"
                )
            used = train_idx[keep]
            train_set = self._dataset(fit_idx, cols)
            valid_sets = [self._dataset(val_idx, cols, reference=train_set)]
            callbacks = [lgb.early_stopping(spec.early_stopping_rounds, verbose=False)]
            if spec.early_stopping_metric == "ic":
                feval = _daily_ic_eval(p.date[val_idx], p.target[val_idx])
        else:
            used = train_idx[self._on_stride[train_idx]]
            train_set = self._dataset(used, cols)
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
