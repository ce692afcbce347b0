"""Model health for the decision date: IC of the champion's matured predictions, returns by
prediction quintile, model drift (review_model) and feature drift (PSI against the training span).
The logic is ml.monitoring; everything here is as of the decision date (labels known by then)."""

import json
import pickle

import dagster as dg
import pandas as pd

from assets import metadata
from assets.backtest import champion_oos
from assets.dbt import FCT_FEATURES, FCT_LABELS
from assets.partitions import MARKET_DATES
from assets.predictions import DAILY_PREDICTIONS
from assets.resources import TradepipeSettings, TradingSettings
from assets.signals import market_date
from assets.training import CHAMPION_MODEL, OOS_PREDICTIONS
from assets.warehouse import marts
from assets.warehouse import monitoring as monitoring_tables
from assets.warehouse import preds as preds_table
from assets.warehouse import registry as registry_table
from assets.warehouse.connection import transaction
from ml.common import atomic_write
from ml.config import setting
from ml.monitoring import (
    feature_drift,
    ic_history,
    model_drift,
    monitoring_log,
    quintile_returns,
)
from ml.reports import charts

MONITORING = dg.AssetKey(["ml", "monitoring"])


class MonitoringConfig(dg.Config):
    """Thresholds of the model-health rules."""

    ic_window: int = setting("monitoring.ic_window")
    drift_threshold: float = setting("monitoring.drift_threshold")
    drift_max_share: float = setting("monitoring.drift_max_share")
    drift_lookback: int = setting("monitoring.drift_lookback")
    psi_warn: float = setting("monitoring.psi_warn")
    psi_alert: float = setting("monitoring.psi_alert")
    train_sample_rows: int = setting("monitoring.train_sample_rows")
    history_days: int = setting("monitoring.history_days")


def _training_sample(con, settings: TradepipeSettings, model_id: str, features: list[str], start, end,
                     rows: int) -> pd.DataFrame:
    """The PSI reference: a seeded sample of the model's training span, drawn once per model and
    kept beside its artifact (the span never changes; drawing it takes ~2 s on 500 tickers)."""
    path = settings.home_path / "models" / model_id / f"psi_reference_{int(rows)}.pkl"
    if path.exists():
        return pd.read_pickle(path)
    sample = marts.feature_sample(con, features, start, end, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, pickle.dumps(sample))
    return sample


@dg.asset(key=MONITORING, deps=[OOS_PREDICTIONS, DAILY_PREDICTIONS, CHAMPION_MODEL, FCT_LABELS, FCT_FEATURES],
          group_name="monitoring", kinds={"duckdb"}, partitions_def=MARKET_DATES)
def monitoring(context: dg.AssetExecutionContext, settings: TradepipeSettings, trading: TradingSettings,
               config: MonitoringConfig) -> dg.MaterializeResult:
    """ml.monitoring_ic (daily IC and rolling IC of matured predictions), ml.feature_drift and
    ml.monitoring_log (the JSON record written into the daily report) for the decision date."""
    with settings.warehouse(read_only=True) as con:
        as_of = market_date(context)
        model_id, _ = preds_table.predictions_on(con, as_of, trading.horizon)
        since = as_of - pd.Timedelta(days=config.history_days)
        _, preds = champion_oos(con, trading.horizon, since=since)
        label = registry_table.label_price(registry_table.champion(con, trading.horizon))
        preds = preds.merge(marts.labels(con, trading.horizon, since, label), on=["ticker", "date"], how="left")
        model = registry_table.model(con, model_id)
        features = json.loads(model["features"]) if isinstance(model["features"], str) else list(model["features"])
        train = _training_sample(con, settings, model_id, features, model["train_start"], model["train_end"],
                                 config.train_sample_rows)
        today = marts.features_on(con, as_of, features, in_universe=True)
    ic = ic_history(preds, as_of, window=config.ic_window)
    drift = model_drift(ic["rank_ic"], window=config.ic_window, threshold=config.drift_threshold,
                        max_share=config.drift_max_share, lookback=config.drift_lookback)
    drifted = feature_drift(train, today, features, warn=config.psi_warn, alert=config.psi_alert)
    quintiles = quintile_returns(preds, as_of)
    log = monitoring_log(as_of, ic, drift, drifted)
    ic_rows = ic.reset_index().assign(model_id=model_id)
    drift_rows = drifted.reset_index().assign(model_id=model_id)
    log_row = pd.DataFrame([{"model_id": model_id, "review_model": bool(drift["review_model"]),
                             "log": json.dumps(log)}])
    with settings.warehouse() as con, transaction(con):
        monitoring_tables.write(con, as_of, ic_rows, drift_rows, log_row)
    return dg.MaterializeResult(metadata=metadata.entries({
        "as_of": str(as_of.date()), "model_id": model_id, "review_model": bool(drift["review_model"]),
        "reason": str(drift.get("reason", "")),
        "ic_over_time": metadata.chart(charts.ic_chart(ic), settings.home_path / "charts" / "monitoring_ic.png"),
        "returns_by_quintile": metadata.table(quintiles),
        "feature_drift_top": metadata.table(drifted.head(10)),
    }))
