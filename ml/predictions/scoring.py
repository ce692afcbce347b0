"""Scoring the latest date of ``marts.fct_features`` with the production model (today's rows of ``ml.preds``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ml.training import (
    FittedModel,
)
from ml.training.calibration import ProbUpCalibrator
from ml.training.walk_forward import _ensemble_std


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
        Several dates, duplicate tickers, missing feature columns, a feature
        with no value for any name of the date (its table was not built), models of
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
    present = [f for f in model.features if f in frame.columns]
    empty = [f for f in present if frame[f].isna().all()]
    if empty:
        raise ValueError(
            f"feature columns {empty[:5]}{' ...' if len(empty) > 5 else ''} ({len(empty)} of {len(model.features)}) "
            f"of model {model.model_id} have no value for any name on {date.date()}: their table was not built "
            f"for that date (marts.fct_alpha158 is built only when [training] feature_set uses it)")
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
    yhat = _predict(model, frame)
    ensemble = [yhat] + [_predict(m, frame) for m in history_models]
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


def _predict(model: FittedModel, frame: pd.DataFrame) -> np.ndarray:
    """The model's predictions for one date's rows (normalized across them as in its training)."""
    return model.predict_array(model.day_matrix(frame))
