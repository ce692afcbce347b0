"""Predictions: every in-universe ticker of a market date scored by the model in force that day.
The logic is in ml.training (scoring, calibration); the warehouse layer reads and writes."""

import dagster as dg
import duckdb
import pandas as pd

from assets import metadata
from assets.checks import DAILY_FRESHNESS
from assets.dbt import FCT_FEATURES
from assets.partitions import MARKET_DATES
from assets.resources import TradepipeSettings
from assets.training import CHAMPION_MODEL, OOS_PREDICTIONS
from assets.warehouse import marts
from assets.warehouse import preds as preds_table
from assets.warehouse import registry as registry_table
from assets.warehouse.connection import transaction
from ml import predictions, training
from ml.config import setting
from ml.market_calendar import is_session
from ml.training import FittedModel, registry

DAILY_PREDICTIONS = dg.AssetKey(["ml", "daily_predictions"])


class ScoringConfig(dg.Config):
    """Which horizon's models score the market date."""

    horizon: int = setting("horizon")


def model_in_force(con: duckdb.DuckDBPyConnection, home, day: pd.Timestamp, horizon: int) -> dict:
    """The model that scores ``day``: of the champion's walk-forward fold models (in force from
    their test window's start) and the champion itself (in force from its last training label),
    the latest one in force on ``day``. So a past date is scored as it would have been then,
    and the latest dates by the champion. Also returns the ids of up to three earlier models
    (for yhat_std) and the artifact of every registered model."""
    reg = registry_table.load(con)
    champion = training_champion(reg, horizon)
    ladder = pd.concat([registry_table.fold_ladder(con, champion["model_id"]),
                        pd.DataFrame([{"model_id": champion["model_id"], "in_force_from": champion["as_of"]}])],
                       ignore_index=True)
    ladder["in_force_from"] = pd.to_datetime(ladder["in_force_from"])
    ladder = ladder.sort_values("in_force_from", kind="stable").reset_index(drop=True)
    eligible = ladder[ladder["in_force_from"] <= day]
    if eligible.empty:
        raise ValueError(f"no model in force on {day.date()}: the first walk-forward model scores from "
                         f"{ladder['in_force_from'].min().date()}")
    i = eligible.index[-1]
    paths = reg.set_index("model_id")["artifact_path"].map(lambda p: registry_table.artifact(home, p))
    return {"model_id": ladder.loc[i, "model_id"], "artifact_path": paths[ladder.loc[i, "model_id"]],
            "is_champion": ladder.loc[i, "model_id"] == champion["model_id"],
            "champion_id": champion["model_id"],
            "earlier": [m for m in ladder.loc[max(0, i - 3):i - 1, "model_id"] if m in paths.index][::-1],
            "paths": paths}


def training_champion(reg: pd.DataFrame, horizon: int) -> dict:
    """The champion row of ``horizon``; an error saying what to run when there is none."""
    champion = registry.current_champion(reg, horizon)
    if champion is None:
        raise ValueError(f"no champion model for horizon {horizon} in ml.model_registry: "
                         f"materialize ml/champion_model first")
    return champion


def no_data_message(con: duckdb.DuckDBPyConnection, day: pd.Timestamp) -> str:
    """Why a market date has no features: not a session, or no data (yet) for it."""
    first, last = marts.features_span(con)
    if not is_session(day):
        return f"{day.date()} is not an NYSE session (weekend or holiday): nothing to score or trade"
    return (f"no features for {day.date()} in marts.fct_features (data covers {first} .. {last}): "
            f"ingest the day's prices and build the dbt models first")


@dg.asset(key=DAILY_PREDICTIONS, deps=[CHAMPION_MODEL, OOS_PREDICTIONS, FCT_FEATURES], group_name="training",
          kinds={"duckdb"}, partitions_def=MARKET_DATES, freshness_policy=DAILY_FRESHNESS,
          check_specs=[
              dg.AssetCheckSpec("predictions_finite", asset=DAILY_PREDICTIONS, blocking=True,
                                description="No NaN or infinite yhat among the date's predictions."),
              dg.AssetCheckSpec("every_universe_ticker_scored", asset=DAILY_PREDICTIONS, blocking=True,
                                description="Every in-universe ticker of the date has a prediction from the "
                                            "model in force."),
          ])
def daily_predictions(context: dg.AssetExecutionContext, config: ScoringConfig, settings: TradepipeSettings):
    """Predictions for every in-universe ticker of the market date, by the model in force that
    day (see model_in_force). A date inside the walk-forward history reuses that history's
    predictions (made by the same model, point in time); a later date is scored, with yhat_std
    across the model and up to three earlier ones and prob_up calibrated on predictions whose
    labels were known before the date. ml.predictions_in_force records which model it was; the
    date's live predictions are replaced as a whole. The checks judge this date."""
    day = pd.Timestamp(context.partition_key)
    with settings.warehouse(read_only=True) as con:
        features = marts.features_on(con, day)
        if features.empty:
            raise ValueError(no_data_message(con, day))
        chosen = model_in_force(con, settings.home_path, day, config.horizon)
        replayed = preds_table.replayed(con, day, config.horizon, chosen["model_id"])
        history = preds_table.walk_forward_history(
            con, config.horizon, chosen["champion_id"],
            label_price=registry_table.label_price(registry_table.model(con, chosen["champion_id"])))
    preds = None
    if replayed:
        source, n = "walk_forward", replayed
        top = pd.DataFrame()
    else:
        model = FittedModel.load(chosen["artifact_path"])
        earlier = [FittedModel.load(chosen["paths"][i]) for i in chosen["earlier"]]
        try:
            calibrator = training.fit_prob_up_calibrator(
                history[["date", "yhat", "fwd_return", "label_end_date"]], as_of=day)
        except ValueError as exc:  # too little matured history: prob_up is left NaN, said in the log
            context.log.warning(f"prob_up not calibrated for {day.date()}: {exc}")
            calibrator = None
        preds = predictions.score_latest(model, features, earlier, calibrator)
        source, n = "scored", len(preds)
        top = preds.nlargest(10, "yhat")[["ticker", "yhat", "yhat_std", "prob_up"]].set_index("ticker")
    with settings.warehouse() as con, transaction(con):
        preds_table.write_live(con, day, config.horizon, chosen["model_id"], source, preds)
    with settings.warehouse(read_only=True) as con:
        bad = preds_table.non_finite(con, day, config.horizon, chosen["model_id"])
        missing = preds_table.unscored(con, day, config.horizon, chosen["model_id"])
    yield dg.MaterializeResult(metadata=metadata.entries({
        "date": str(day.date()), "model_id": chosen["model_id"], "champion": bool(chosen["is_champion"]),
        "source": source, "dagster/row_count": n,
        "eligible_tickers": int(features["in_universe"].sum()),
        "top_10": metadata.table(top) if len(top) else "replayed from the walk-forward history",
    }))
    yield dg.AssetCheckResult(check_name="predictions_finite", passed=bad == 0,
                              metadata=metadata.entries({"date": str(day.date()), "non_finite_yhat": bad}))
    # A replayed date holds the walk-forward history's predictions, made for the names that had
    # a label; the rest (no label, e.g. a quarantined bar ahead) were never predicted.
    yield dg.AssetCheckResult(check_name="every_universe_ticker_scored",
                              passed=not missing or source == "walk_forward", metadata=metadata.entries({
                                  "date": str(day.date()), "model_id": chosen["model_id"], "source": source,
                                  "unscored": len(missing), "examples": dg.MetadataValue.json(missing[:10])}))
