"""Training: walk-forward CV report, out-of-sample prediction history, champion model, today's
predictions. The logic is in ml.training and ml.registry; this module loads, calls and writes."""

import json
import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from pydantic import Field

from assets import metadata
from assets.checks import DAILY_FRESHNESS
from assets.partitions import MARKET_DATES
from assets.resources import TradepipeSettings
from ml import predictions, training
from ml.metrics import daily_ic
from ml.reports import charts
from ml.training import FittedModel, registry

TRAINING_PANEL = dg.AssetKey(["marts", "fct_training_panel"])
FEATURES = dg.AssetKey(["marts", "fct_features"])
CV_REPORT = dg.AssetKey(["ml", "cv_report"])
OOS_PREDICTIONS = dg.AssetKey(["ml", "oos_predictions"])
CHAMPION_MODEL = dg.AssetKey(["ml", "champion_model"])
DAILY_PREDICTIONS = dg.AssetKey(["ml", "daily_predictions"])

PREDS_DDL = """
create table if not exists ml.preds (
    ticker varchar, date date, horizon integer, model_id varchar,
    yhat double, yhat_std double, prob_up double,
    kind varchar,            -- 'oos': walk-forward test fold; 'live': the latest date, champion
    created_at timestamp
)
"""


class TrainingConfig(dg.Config):
    """What to train and how to judge it (defaults: LightGBM on the ranked 5-day excess return)."""

    horizon: int = Field(default=5, description="Label horizon in trading days (1, 5 or 20).")
    model_type: str = Field(default="champion", description="'champion' (retrain the current champion's model type and parameters; LightGBM when there is none), or ridge, lasso, elastic_net, random_forest, lightgbm, mlp.")
    target: str = Field(default="rank", description="Per-date transform of fwd_excess_return: rank, zscore or raw.")
    params: str = Field(default="{}", description='Model parameters as JSON, over the defaults, e.g. {"num_leaves": 15}.')
    train_days: int = Field(default=756, description="Training window in trading days (rolling).")
    test_days: int = Field(default=63, description="Test window and retrain step in trading days (63 = quarterly).")
    champion_tolerance: float = Field(default=0.005, description="A new model becomes champion unless its walk-forward rank IC is below the champion's by more than this.")
    min_new_rows: int = Field(default=1, description="Retrain only when at least this many panel rows have labels known after the champion's train_end.")
    force: bool = Field(default=False, description="Retrain even when not due.")

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
        )


def _load_registry(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    exists = con.execute("select count(*) from information_schema.tables "
                         "where table_schema = 'ml' and table_name = 'model_registry'").fetchone()[0]
    if not exists:
        return pd.DataFrame(columns=list(registry.REGISTRY_COLUMNS))
    return con.execute("select * from ml.model_registry").df()


def _write_preds(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, kind: str) -> None:
    """Insert prediction rows, replacing any with the same (ticker, date, horizon, model_id)."""
    rows = frame[list(training.PREDS_COLUMNS)].assign(kind=kind, created_at=pd.Timestamp.now(tz="UTC").tz_localize(None))
    con.register("new_preds", rows)
    con.execute(PREDS_DDL)
    con.execute("""delete from ml.preds p using new_preds n
                   where p.ticker = n.ticker and p.date = cast(n.date as date)
                     and p.horizon = n.horizon and p.model_id = n.model_id""")
    con.execute("insert into ml.preds by name select * replace (cast(date as date) as date) from new_preds")
    con.unregister("new_preds")


def _save(model: FittedModel, settings: TradepipeSettings) -> str:
    return str(model.save(settings.home_path / "models" / model.model_id))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(CV_REPORT, deps=[TRAINING_PANEL], group_name="training", kinds={"duckdb"},
                     description="ml.cv_folds: per-fold window bounds and IC / rank IC of the walk-forward CV."),
        dg.AssetSpec(OOS_PREDICTIONS, deps=[TRAINING_PANEL], group_name="training", kinds={"duckdb"},
                     description="ml.preds rows of kind 'oos': every test fold's predictions, from the fold model trained before it."),
        dg.AssetSpec(CHAMPION_MODEL, deps=[TRAINING_PANEL], group_name="training", kinds={"lightgbm", "scikitlearn"},
                     description="ml.model_registry: fold models, the final model, and the champion per horizon."),
    ],
)
def model_training(context: dg.AssetExecutionContext, config: TrainingConfig, settings: TradepipeSettings):
    """Walk-forward CV with purging and embargo, a final model as of the latest label, and the
    champion/challenger decision; skipped (tables unchanged) when no retrain is due."""
    with settings.warehouse(read_only=True) as con:
        reg = _load_registry(con)
        champion = registry.current_champion(reg, config.horizon)
        spec = config.spec(champion)
        panel = training.load_panel(con, config.horizon, spec.features)
    due, why = registry.retrain_due(champion, panel["label_end_date"], min_new_rows=config.min_new_rows,
                                    force=config.force)
    if not due:
        context.log.info(f"no retrain: {why}")
        for key in (CV_REPORT, OOS_PREDICTIONS, CHAMPION_MODEL):
            yield dg.MaterializeResult(asset_key=key, metadata={"retrained": False, "reason": why})
        return

    result = training.walk_forward(panel, spec)
    final = training.train_final(panel, spec)
    summary = result.summary
    status, reason = registry.decide_champion(summary["rank_ic"], champion, tolerance=config.champion_tolerance)
    extra = {}
    if status == "champion" and champion is not None and isinstance(champion.get("optimizer"), str):
        extra = {"optimizer": champion["optimizer"], "selection": champion.get("selection")}
        reason += f"; keeps the optimizer {champion['optimizer']} chosen by the model comparison"
    folds = save_training(settings, reg, result, final, status, reason, extra)
    fold_table = folds[["fold", "train_start", "train_end", "test_start", "test_end", "n_train", "n_test",
                        "ic", "rank_ic"]]
    rolling = _rolling_rank_ic(result.predictions)
    yield dg.MaterializeResult(asset_key=CV_REPORT, metadata={
        "folds": metadata.table(fold_table.assign(**{c: fold_table[c].astype(str) for c in
                                                     ["train_start", "train_end", "test_start", "test_end"]})),
        "mean_ic": float(summary["ic"]), "mean_rank_ic": float(summary["rank_ic"]),
        "rank_icir": float(summary["rank_icir"]),
        "rolling_rank_ic": metadata.chart(charts.line_chart(rolling, "rolling 63-day mean rank IC (OOS)"),
                                          settings.home_path / "charts" / f"rank_ic_h{config.horizon}.png"),
    })
    yield dg.MaterializeResult(asset_key=OOS_PREDICTIONS, metadata={
        "dagster/row_count": len(result.predictions),
        "first_date": str(result.predictions["date"].min().date()),
        "last_date": str(result.predictions["date"].max().date()),
        "fold_models": len(result.models),
    })
    yield dg.MaterializeResult(asset_key=CHAMPION_MODEL, metadata={
        "model_id": final.model_id, "status": status, "reason": reason,
        "train_start": str(pd.Timestamp(final.train_start).date()),
        "train_end": str(pd.Timestamp(final.train_end).date()),
        "cv_rank_ic": float(summary["rank_ic"]),
        "top_features": metadata.table(_importance(final).head(20).to_frame("importance")),
    })


def save_training(settings: TradepipeSettings, reg: pd.DataFrame, result: training.WalkForwardResult,
                  final: FittedModel, status: str, reason: str, extra: dict | None = None) -> pd.DataFrame:
    """Register the fold models and the final model (with ``extra`` registry columns), write the
    folds to ml.cv_folds and the OOS predictions to ml.preds, in one transaction. Returns the folds."""
    code = registry.code_version()
    rows = [registry.registry_row(m, "fold", {}, _save(m, settings), code) for m in result.models]
    rows.append({**registry.registry_row(final, status, result.summary, _save(final, settings), code,
                                         reason=reason), **(extra or {})})
    for row in rows:
        reg = registry.register(reg, row)
    folds = result.folds.rename(columns={"model_id": "fold_model_id"}).assign(model_id=final.model_id)
    with settings.warehouse() as con:
        con.execute("begin transaction")
        con.execute("create schema if not exists ml")
        con.register("registry_frame", reg)
        con.execute("create or replace table ml.model_registry as select * from registry_frame")
        con.register("folds_frame", folds)
        con.execute("create table if not exists ml.cv_folds as select * from folds_frame limit 0")
        con.execute("delete from ml.cv_folds where model_id = ?", [final.model_id])
        con.execute("insert into ml.cv_folds by name select * from folds_frame")
        _write_preds(con, result.predictions, kind="oos")
        con.execute("commit")
    return folds


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


class ScoringConfig(dg.Config):
    """Which horizon's models score the market date."""

    horizon: int = Field(default=5, description="Label horizon of the champion used.")


IN_FORCE_DDL = """
create table if not exists ml.predictions_in_force (
    date date, horizon integer, model_id varchar, source varchar, n_predictions integer, written_at timestamp
)
"""


def model_in_force(con: duckdb.DuckDBPyConnection, day: pd.Timestamp, horizon: int) -> dict:
    """The model that scores ``day``: of the champion's walk-forward fold models (in force from
    their test window's start) and the champion itself (in force from its last training label),
    the latest one in force on ``day``. So a past date is scored as it would have been then,
    and the latest dates by the champion. Also returns the ids of up to three earlier models
    (for yhat_std)."""
    reg = _load_registry(con)
    champion = registry.current_champion(reg, horizon)
    if champion is None:
        raise ValueError(f"no champion model for horizon {horizon} in ml.model_registry: "
                         f"materialize ml/champion_model first")
    folds = con.execute("select fold_model_id as model_id, test_start as in_force_from from ml.cv_folds "
                        "where model_id = ? order by test_start", [champion["model_id"]]).df()
    final = pd.DataFrame([{"model_id": champion["model_id"], "in_force_from": champion["as_of"]}])
    ladder = pd.concat([folds, final], ignore_index=True)
    ladder["in_force_from"] = pd.to_datetime(ladder["in_force_from"])
    ladder = ladder.sort_values("in_force_from", kind="stable").reset_index(drop=True)
    eligible = ladder[ladder["in_force_from"] <= day]
    if eligible.empty:
        raise ValueError(f"no model in force on {day.date()}: the first walk-forward model scores from "
                         f"{ladder['in_force_from'].min().date()}")
    i = eligible.index[-1]
    paths = reg.set_index("model_id")["artifact_path"]
    return {"model_id": ladder.loc[i, "model_id"], "artifact_path": paths[ladder.loc[i, "model_id"]],
            "is_champion": ladder.loc[i, "model_id"] == champion["model_id"],
            "champion_id": champion["model_id"],
            "earlier": [m for m in ladder.loc[max(0, i - 3):i - 1, "model_id"] if m in paths.index][::-1],
            "paths": paths}


@dg.asset(key=DAILY_PREDICTIONS, deps=[CHAMPION_MODEL, OOS_PREDICTIONS, FEATURES], group_name="training",
          kinds={"duckdb"}, partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS)
def daily_predictions(context: dg.AssetExecutionContext, config: ScoringConfig,
                      settings: TradepipeSettings) -> dg.MaterializeResult:
    """Predictions for every in-universe ticker of the market date, by the model in force that
    day (see model_in_force). A date inside the walk-forward history reuses that history's
    predictions (made by the same model, point in time); a later date is scored, with yhat_std
    across the model and up to three earlier ones and prob_up calibrated on predictions whose
    labels were known before the date. ml.predictions_in_force records which model it was."""
    day = pd.Timestamp(context.partition_key)
    with settings.warehouse(read_only=True) as con:
        features = con.execute("select * from marts.fct_features where date = ?", [day.date()]).df()
        if features.empty:
            raise ValueError(no_data_message(con, day))
        chosen = model_in_force(con, day, config.horizon)
        replayed = con.execute("select count(*) from ml.preds where kind = 'oos' and date = ? and horizon = ? "
                               "and model_id = ?", [day.date(), config.horizon, chosen["model_id"]]).fetchone()[0]
        history = con.execute("""
            select p.date, p.yhat, l.fwd_return, l.label_end_date
            from ml.preds p join marts.fct_labels l using (ticker, date, horizon)
            where p.kind = 'oos' and p.horizon = ? and p.model_id in (
                select fold_model_id from ml.cv_folds where model_id = ?)
        """, [config.horizon, chosen["champion_id"]]).df()
    if replayed:
        source, n = "walk_forward", int(replayed)
        top = pd.DataFrame()
    else:
        model = FittedModel.load(chosen["artifact_path"])
        earlier = [FittedModel.load(chosen["paths"][i]) for i in chosen["earlier"]]
        try:
            calibrator = training.fit_prob_up_calibrator(history, as_of=day)
        except ValueError as exc:  # too little matured history: prob_up is left NaN, said in the log
            context.log.warning(f"prob_up not calibrated for {day.date()}: {exc}")
            calibrator = None
        preds = predictions.score_latest(model, features, earlier, calibrator)
        source, n = "scored", len(preds)
        top = preds.nlargest(10, "yhat")[["ticker", "yhat", "yhat_std", "prob_up"]].set_index("ticker")
    record = pd.DataFrame([{"date": day.date(), "horizon": config.horizon, "model_id": chosen["model_id"],
                            "source": source, "n_predictions": n,
                            "written_at": pd.Timestamp.now(tz="UTC").tz_localize(None)}])
    with settings.warehouse() as con:
        con.execute("begin transaction")
        con.execute("create schema if not exists ml")
        if source == "scored":
            _write_preds(con, preds, kind="live")
        con.execute(IN_FORCE_DDL)
        con.execute("delete from ml.predictions_in_force where date = ? and horizon = ?", [day.date(), config.horizon])
        con.register("in_force_row", record)
        con.execute("insert into ml.predictions_in_force by name select * from in_force_row")
        con.execute("commit")
    return dg.MaterializeResult(metadata={
        "date": str(day.date()), "model_id": chosen["model_id"], "champion": bool(chosen["is_champion"]),
        "source": source, "dagster/row_count": n,
        "eligible_tickers": int(features["in_universe"].sum()),
        "top_10": metadata.table(top) if len(top) else "replayed from the walk-forward history",
    })


def no_data_message(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> str:
    """Why a market date has no features: not a session, or no data (yet) for it."""
    from ml.market_calendar import is_session

    first, last = con.execute("select min(date), max(date) from marts.fct_features").fetchone()
    if not is_session(day):
        return f"{day.date()} is not an NYSE session (weekend or holiday): nothing to score or trade"
    return (f"no features for {day.date()} in marts.fct_features (data covers {first} .. {last}): "
            f"ingest the day's prices and build the dbt models first")


@dg.asset_check(asset=DAILY_PREDICTIONS, blocking=True, description="No NaN or infinite yhat in ml.preds.")
def predictions_finite(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        bad = con.execute("select count(*) from ml.preds where yhat is null or not isfinite(yhat)").fetchone()[0]
    return dg.AssetCheckResult(passed=bad == 0, metadata={"non_finite_yhat": bad})


@dg.asset_check(asset=DAILY_PREDICTIONS, blocking=True,
                description="Every in-universe ticker of the date last scored has a prediction from the model in force.")
def every_universe_ticker_scored(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        latest = con.execute("select date, horizon, model_id, source from ml.predictions_in_force "
                             "order by written_at desc limit 1").fetchone()
        if latest is None:
            return dg.AssetCheckResult(passed=False, description="ml.predictions_in_force is empty")
        source = latest[3]
        latest = latest[:3]
        missing = con.execute("""
            select list(f.ticker order by f.ticker) from marts.fct_features f
            where f.date = ? and f.in_universe and not exists (
                select 1 from ml.preds p where p.ticker = f.ticker and p.date = f.date
                  and p.horizon = ? and p.model_id = ?)
        """, list(latest)).fetchone()[0] or []
    # A replayed date holds the walk-forward history's predictions, made for the names that had
    # a label; the rest (no label, e.g. a quarantined bar ahead) were never predicted.
    return dg.AssetCheckResult(passed=not missing or source == "walk_forward", metadata={
        "date": str(latest[0]), "model_id": latest[2], "source": source, "unscored": len(missing),
        "examples": dg.MetadataValue.json(missing[:10])})


@dg.asset_check(asset=CV_REPORT, description="In every fold the training dates and every training label end before the test window starts.")
def folds_do_not_leak(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        bad = con.execute("""select count(*) from ml.cv_folds
                             where train_end >= test_start or max_train_label_end >= test_start""").fetchone()[0]
    return dg.AssetCheckResult(passed=bad == 0, metadata={"leaking_folds": bad})


@dg.asset_check(asset=CV_REPORT, description="Warns when the champion's out-of-sample mean rank IC is below 0.01.")
def oos_rank_ic_not_low(settings: TradepipeSettings) -> dg.AssetCheckResult:
    with settings.warehouse(read_only=True) as con:
        rank_ic = con.execute("""select avg(rank_ic) from ml.cv_folds where model_id in
                                 (select model_id from ml.model_registry where status = 'champion')""").fetchone()[0]
    value = float("nan") if rank_ic is None else float(rank_ic)
    return dg.AssetCheckResult(passed=bool(value >= 0.01), severity=dg.AssetCheckSeverity.WARN,
                               metadata={"mean_rank_ic": value})
