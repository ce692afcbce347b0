"""Walk-forward training, out-of-sample predictions with uncertainty, and live scoring.

The input is the training panel (``marts.fct_training_panel`` for one horizon):
one row per ``(ticker, date)`` with the feature columns, ``fwd_return``,
``fwd_excess_return`` and ``label_end_date`` (the date the label becomes
known). Three entry points:

* :func:`walk_forward` -- anchored walk-forward CV (:class:`ml.training.WalkForwardSplit`,
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
  :mod:`ml.training.models` pipelines), early stopping -- sees only those rows;
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
Fitted with the native ``lightgbm.train`` (the :mod:`ml.training.models` defaults
mapped to native names; ``deterministic`` and ``force_col_wise`` on), early
stopped on the last ``early_stopping_days`` dates of the training window
(purged: training rows whose label ends inside that slice are dropped) by the
mean daily IC of the slice. The booster keeps the best iteration and is not
refitted on the slice (a refit would double the cost). Other model types are
the :mod:`ml.training.models` pipelines fitted on the whole training window.

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

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml import metrics as mt
from ml.training.artifacts import FittedModel
from ml.training.calibration import ProbUpCalibrator, _calibration_rows, _fit_calibrator
from ml.training.fitter import _Fitter, stride_rows
from ml.training.panel import _check_features_present, _prepare, _Prepared
from ml.training.spec import TrainingSpec
from ml.training.walk_forward_split import WalkForwardSplit

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


def _predict(model: FittedModel, p: _Prepared, X: np.ndarray) -> np.ndarray:
    """``model``'s predictions for rows ``X`` of the panel's features (a model fitted on the
    columns its window chose reads those)."""
    if model.features == p.features:
        return model.predict_array(X)
    index = {name: j for j, name in enumerate(p.features)}
    return model.predict_array(np.ascontiguousarray(X[:, [index[f] for f in model.features]]))


def _ensemble_std(preds: list[np.ndarray]) -> np.ndarray:
    if len(preds) < 2:
        return np.full(preds[0].shape, np.nan)
    return np.std(np.vstack(preds), axis=0, ddof=1)


def walk_forward(
    panel: pd.DataFrame, spec: TrainingSpec | None = None, test_from: Any = None,
    log: Callable[[str], None] | None = None,
) -> WalkForwardResult:
    """Anchored walk-forward CV with out-of-sample predictions.

    Fold ``k`` tests the dates ``[train_days + k*test_days, ... + test_days)``
    (counted in the panel's distinct dates from its first date; the last,
    possibly partial, window included) and trains on the ``train_days``
    dates before it (all of them if ``expanding``), purged of rows whose label
    ends on or after the test start, with ``embargo_days`` after each earlier
    test window left out. See :class:`ml.training.WalkForwardSplit`.

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
    log : callable, optional
        Called with a progress line after each fold ("fold 3 of 16: ...").

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
    n_folds = sum(1 for b in bounds if first_test_end is None or b.test_end >= first_test_end)
    for bound, (train_idx, test_idx) in zip(bounds, splits, strict=True):
        k = bound.fold
        if first_test_end is not None and bound.test_end < first_test_end:
            continue
        started = time.perf_counter()
        where = f"of fold {k} (window {bound.train_start.date()}..{bound.train_end.date()})"
        if fitter is None:
            _check_features_present(p, train_idx, where)
            fitter = _Fitter(p, spec, bin_rows=train_idx)
        test_start = np.datetime64(bound.test_start.as_unit("ns").to_datetime64())
        as_of = p.date[np.searchsorted(p.date, test_start) - 1]  # last panel date before the test
        model = fitter.fit(train_idx, as_of, where)
        models.append(model)

        X_test = np.ascontiguousarray(p.X[test_idx])
        yhat = _predict(model, p, X_test)
        ensemble = [yhat] + [_predict(m, p, X_test) for m in models[-spec.uncertainty_models : -1]]
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
        if log is not None:
            log(f"fold {len(models)} of {n_folds} (test {bound.test_start.date()}..{bound.test_end.date()}): "
                f"{model.n_train:,} training rows, rank IC {rank_ic:+.4f}, {time.perf_counter() - started:.1f}s")

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
    # the dates of the stride are counted from the panel's first date, as in walk_forward
    on_stride = stride_rows(p.date, spec.date_stride)[eligible]
    return _Fitter(rows, spec, bin_rows=everything, on_stride=on_stride).fit(everything, cutoff, where)
