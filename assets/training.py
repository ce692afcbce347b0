"""Training: the walk-forward CV report, the out-of-sample prediction history and the champion
model. The logic is in ml.training (its registry module holds the champion rules); this module loads, calls and writes."""

import json
from dataclasses import asdict, replace
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from assets import metadata
from assets.dbt import FCT_TRAINING_PANEL
from assets.resources import TradepipeSettings
from assets.warehouse import adapted as adapted_table
from assets.warehouse import marts
from assets.warehouse import preds as preds_table
from assets.warehouse import registry as registry_table
from assets.warehouse.connection import transaction
from ml import training, tracking
from ml.adapt import Adapted, training_windows
from ml.config import setting
from ml.metrics import daily_ic
from ml.reports import charts
from ml.training import FittedModel, registry

CV_REPORT = dg.AssetKey(["ml", "cv_report"])
OOS_PREDICTIONS = dg.AssetKey(["ml", "oos_predictions"])
CHAMPION_MODEL = dg.AssetKey(["ml", "champion_model"])
MIN_RANK_IC = 0.01


class TrainingConfig(dg.Config):
    """What to train and how to judge it (defaults: tradepipe.toml, the horizon and [training])."""

    horizon: int = setting("horizon")
    model_type: str = setting("training.model_type")
    target: str = setting("training.target")
    label_price: str = setting("training.label_price")
    normalize: str = setting("training.normalize")
    feature_selection: str = setting("training.feature_selection")
    max_features: int = setting("training.max_features")
    expanding: bool = setting("training.expanding")
    date_stride: int = setting("training.date_stride")
    feature_set: str = setting("training.feature_set")
    params: str = setting("training.params")
    train_days: int = setting("training.train_days")
    test_days: int = setting("training.test_days")
    champion_tolerance: float = setting("training.champion_tolerance")
    min_new_rows: int = setting("training.min_new_rows")
    force: bool = Field(default=False, description="Retrain even when not due.")
    tracking: bool = setting("tracking.enabled")
    experiment: str = setting("tracking.experiment")

    def spec(self, champion: dict | None = None) -> training.TrainingSpec:
        model_type, params = self.model_type, json.loads(self.params)
        if model_type == "champion":
            model_type = champion["model_type"] if champion else "lightgbm"
            if champion:
                stored = champion["params"]
                stored = stored if isinstance(stored, dict) else json.loads(stored)
                machine = {"n_jobs", "num_threads", "random_state", "seed"}  # set here, not carried over
                params = {**{k: v for k, v in stored.items() if k not in machine}, **params}
        return training.TrainingSpec(
            horizon=self.horizon, target=self.target, model_type=model_type,
            params=params, train_days=self.train_days, test_days=self.test_days,
            label_price=self.label_price, normalize=self.normalize, feature_selection=self.feature_selection,
            max_features=self.max_features, expanding=self.expanding,
            date_stride=self.date_stride,
        )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(CV_REPORT, deps=[FCT_TRAINING_PANEL], group_name="training", kinds={"duckdb"},
                     description="ml.cv_folds: per-fold window bounds and IC / rank IC of the walk-forward CV."),
        dg.AssetSpec(OOS_PREDICTIONS, deps=[FCT_TRAINING_PANEL], group_name="training", kinds={"duckdb"},
                     description="ml.preds rows of kind 'oos': every test fold's predictions, from the fold model trained before it."),
        dg.AssetSpec(CHAMPION_MODEL, deps=[FCT_TRAINING_PANEL], group_name="training", kinds={"lightgbm", "scikitlearn"},
                     description="ml.model_registry: fold models, the final model, and the champion per horizon."),
    ],
    check_specs=[
        dg.AssetCheckSpec("folds_do_not_leak", asset=CV_REPORT,
                          description="In every fold of the champion's walk-forward the training dates and every "
                                      "training label end before the test window starts."),
        dg.AssetCheckSpec("oos_rank_ic_not_low", asset=CV_REPORT,
                          description=f"Warns when the champion's out-of-sample mean rank IC is below {MIN_RANK_IC}."),
    ],
)
def model_training(context: dg.AssetExecutionContext, config: TrainingConfig, settings: TradepipeSettings):
    """Walk-forward CV with purging and embargo, a final model as of the latest label, and the
    champion/challenger decision; skipped (tables unchanged) when no retrain is due. The checks
    judge the champion of the configured horizon after the decision."""
    with settings.warehouse(read_only=True) as con:
        reg = registry_table.load(con)
        champion = registry.current_champion(reg, config.horizon)
        spec = config.spec(champion)
        panel = marts.training_panel(con, config.horizon, spec.features, config.feature_set, spec.label_price)
    spec, adapted = fit_windows(spec, panel, context)
    due, why = registry.retrain_due(champion, panel["label_end_date"], min_new_rows=config.min_new_rows,
                                    force=config.force)
    if not due:
        context.log.info(f"no retrain: {why}")
        for key in (CV_REPORT, OOS_PREDICTIONS, CHAMPION_MODEL):
            yield dg.MaterializeResult(asset_key=key, metadata=metadata.entries({"retrained": False, "reason": why}))
        yield from _fold_checks(settings, config.horizon)
        return

    context.log.info(f"retraining {spec.model_type} (horizon {spec.horizon}): {why}")
    result = training.walk_forward(panel, spec, log=context.log.info)
    final = training.train_final(panel, spec)
    context.log.info(f"final model {final.model_id}: {final.n_train:,} training rows up to "
                     f"{pd.Timestamp(final.train_end).date()}")
    summary = result.summary
    status, reason = registry.decide_champion(summary["rank_ic"], champion, tolerance=config.champion_tolerance,
                                              label_price=spec.label_price)
    extra = {}
    if status == "champion" and champion is not None and isinstance(champion.get("optimizer"), str):
        extra = {"optimizer": champion["optimizer"], "selection": champion.get("selection")}
        reason += f"; keeps the optimizer {champion['optimizer']} chosen by the model comparison"
    folds, model_dir = save_training(settings, reg, result, final, status, reason, extra, adapted)
    track_training(settings.home_path, config, spec, result, final, status, reason, model_dir, champion)
    fold_table = folds[["fold", "train_start", "train_end", "test_start", "test_end", "n_train", "n_test",
                        "ic", "rank_ic"]]
    rolling = _rolling_rank_ic(result.predictions)
    yield dg.MaterializeResult(asset_key=CV_REPORT, metadata=metadata.entries({
        "folds": metadata.table(fold_table),
        "mean_ic": float(summary["ic"]), "mean_rank_ic": float(summary["rank_ic"]),
        "rank_icir": float(summary["rank_icir"]),
        "train_days": spec.train_days, "test_days": spec.test_days,
        "adapted_settings": dg.MetadataValue.json([str(a) for a in adapted]),
        "rolling_rank_ic": metadata.chart(charts.line_chart(rolling, "rolling 63-day mean rank IC (OOS)"),
                                          settings.home_path / "charts" / f"rank_ic_h{config.horizon}.png"),
    }))
    yield dg.MaterializeResult(asset_key=OOS_PREDICTIONS, metadata=metadata.entries({
        "dagster/row_count": len(result.predictions),
        "first_date": str(result.predictions["date"].min().date()),
        "last_date": str(result.predictions["date"].max().date()),
        "fold_models": len(result.models),
    }))
    yield dg.MaterializeResult(asset_key=CHAMPION_MODEL, metadata=metadata.entries({
        "model_id": final.model_id, "status": status, "reason": reason,
        "train_start": str(pd.Timestamp(final.train_start).date()),
        "train_end": str(pd.Timestamp(final.train_end).date()),
        "cv_rank_ic": float(summary["rank_ic"]),
        "top_features": metadata.table(_importance(final).head(20).to_frame("importance")),
    }))
    yield from _fold_checks(settings, config.horizon)


def fit_windows(spec: training.TrainingSpec, panel: pd.DataFrame,
                context: dg.AssetExecutionContext | None = None) -> tuple[training.TrainingSpec, list[Adapted]]:
    """``spec`` with the walk-forward windows the panel has room for (ml.adapt.training_windows),
    and what was lowered (logged)."""
    train_days, test_days, adapted = training_windows(panel["date"].nunique(), spec.train_days, spec.test_days)
    for a in adapted:
        if context is not None:
            context.log.info(f"adapted to the data: {a}")
    return replace(spec, train_days=train_days, test_days=test_days), adapted


def _fold_checks(settings: TradepipeSettings, horizon: int):
    """The CV report's checks on the champion of ``horizon`` (the model this run trained, or kept)."""
    with settings.warehouse(read_only=True) as con:
        champion = registry_table.champion(con, horizon)
        model_id = None if champion is None else champion["model_id"]
        leaking = None if model_id is None else registry_table.leaking_folds(con, model_id)
        rank_ic = None if model_id is None else registry_table.champion_mean_rank_ic(con, horizon)
    yield dg.AssetCheckResult(
        check_name="folds_do_not_leak", asset_key=CV_REPORT, passed=leaking == 0,
        description=f"{leaking} fold(s) of {model_id} train on dates or labels inside their test window"
        if model_id else f"no champion for horizon {horizon}",
        metadata=metadata.entries({"model_id": str(model_id), "leaking_folds": -1 if leaking is None else leaking}))
    value = float("nan") if rank_ic is None else float(rank_ic)
    yield dg.AssetCheckResult(
        check_name="oos_rank_ic_not_low", asset_key=CV_REPORT, passed=bool(value >= MIN_RANK_IC),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"mean out-of-sample rank IC of {model_id}: {value:+.4f} (warns below {MIN_RANK_IC})",
        metadata=metadata.entries({"model_id": str(model_id), "mean_rank_ic": value}))


def save_training(settings: TradepipeSettings, reg: pd.DataFrame, result: training.WalkForwardResult,
                  final: FittedModel, status: str, reason: str, extra: dict | None = None,
                  adapted: list[Adapted] | None = None) -> tuple[pd.DataFrame, Path]:
    """Save the fold models and the final model under $TRADEPIPE_HOME/models and register them
    (with ``extra`` registry columns); write the folds to ml.cv_folds, the OOS predictions to
    ml.preds and the windows lowered for the data to ops.adapted_settings, in one transaction.
    Returns the folds and the final model's folder (its model file and ``model.json`` sidecar)."""
    code = registry.code_version()
    rows = [registry.registry_row(m, "fold", {}, _save(m, settings), code) for m in result.models]
    final_path = _save(final, settings)
    rows.append({**registry.registry_row(final, status, result.summary, final_path, code,
                                         reason=reason), **(extra or {})})
    for row in rows:
        reg = registry.register(reg, row)
    folds = result.folds.rename(columns={"model_id": "fold_model_id"})
    with settings.warehouse() as con, transaction(con):
        registry_table.write(con, reg)
        registry_table.write_folds(con, final.model_id, folds)
        preds_table.write_oos(con, result.predictions)
        adapted_table.write(con, "training", adapted or [])
    return folds.assign(model_id=final.model_id), registry_table.artifact(settings.home_path, final_path)


def track_training(home: Path, config: TrainingConfig, spec: training.TrainingSpec,
                   result: training.WalkForwardResult, final: FittedModel, status: str, reason: str,
                   model_dir: Path, champion: dict | None = None) -> str | None:
    """Log the training run to MLflow when ``config.tracking`` (ml.tracking.log_run; nothing
    otherwise): the spec and the model's parameters, the walk-forward summary (rank IC, ICIR, ...)
    and per-fold IC and rank IC as steps, the champion decision as tags, and the final model's
    folder (model file and sidecar). Returns the MLflow run id, or None."""
    spec_params = {k: v for k, v in asdict(spec).items() if k != "features"}
    return tracking.log_run(
        home, "training", final.model_id, enabled=config.tracking, experiment=config.experiment,
        params={**spec_params, "feature_set": config.feature_set, "n_features": len(final.features),
                "model_params": final.params, "champion_tolerance": config.champion_tolerance,
                "min_new_rows": config.min_new_rows, "force": config.force},
        metrics={**result.summary, "n_train": final.n_train, "fold_ic": result.folds["ic"].tolist(),
                 "fold_rank_ic": result.folds["rank_ic"].tolist()},
        tags={"model_id": final.model_id, "horizon": spec.horizon, "model_type": spec.model_type,
              "status": status, "reason": reason,
              "previous_champion": "none" if champion is None else champion["model_id"],
              "train_start": str(pd.Timestamp(final.train_start).date()),
              "train_end": str(pd.Timestamp(final.train_end).date())},
        artifacts=[model_dir])


def _save(model: FittedModel, settings: TradepipeSettings) -> str:
    path = model.save(settings.home_path / "models" / model.model_id)
    return registry_table.relative_artifact(settings.home_path, path)


def _rolling_rank_ic(predictions: pd.DataFrame) -> pd.DataFrame:
    labelled = predictions.dropna(subset=["yhat", "fwd_excess_return"])
    daily = daily_ic(labelled, "yhat", "fwd_excess_return", method="spearman")
    return daily.rolling(63, min_periods=20).mean().to_frame("rank_ic_63d")


def _importance(model: FittedModel) -> pd.Series:
    estimator = model.estimator
    if hasattr(estimator, "feature_importance"):  # LightGBM booster: total gain
        values = estimator.feature_importance(importance_type="gain")
    else:
        final_step = estimator[-1] if hasattr(estimator, "__getitem__") else estimator
        values = getattr(final_step, "feature_importances_", None)
        if values is None:
            values = np.abs(np.ravel(getattr(final_step, "coef_", np.zeros(len(model.features)))))
    series = pd.Series(values, index=list(model.features), dtype=float)
    total = series.sum()
    return (series / total if total else series).sort_values(ascending=False)
