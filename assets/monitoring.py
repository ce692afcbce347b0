"""Model health for the decision date: IC of the champion's matured predictions, returns by
prediction quintile, model drift (review_model) and feature drift (PSI against the training span).
The logic is ml.monitoring; everything here is as of the decision date (labels known by then)."""

import json

import dagster as dg
import pandas as pd
from pydantic import Field

from assets import metadata
from assets.backtest import CHAMPION_MODEL, LABELS, OOS_PREDICTIONS, champion_oos
from assets.resources import TradepipeSettings, TradingSettings
from assets.tables import replace_rows
from assets.partitions import MARKET_DATES
from assets.trading import DAILY_PREDICTIONS, market_date, predictions_on
from ml.reports import charts
from ml.monitoring import feature_drift, ic_history, model_drift, monitoring_log, quintile_returns

FEATURES = dg.AssetKey(["marts", "fct_features"])
MONITORING = dg.AssetKey(["ml", "monitoring"])


class MonitoringConfig(dg.Config):
    """Thresholds of the model-health rules."""

    ic_window: int = Field(default=63, description="Rolling window (dates) of the IC.")
    drift_threshold: float = Field(default=0.0, description="A rolling IC below this counts as a bad day.")
    drift_max_share: float = Field(default=0.6, description="review_model when more than this share of recent days are bad.")
    drift_lookback: int = Field(default=126, description="Recent days the share is taken over.")
    psi_warn: float = Field(default=0.1, description="Feature PSI from which a feature is 'warn'.")
    psi_alert: float = Field(default=0.25, description="Feature PSI from which a feature is 'alert'.")
    train_sample_rows: int = Field(default=200_000, description="Rows of the training span sampled (seeded) for PSI.")
    history_days: int = Field(default=756, description="Trailing calendar span (days) of matured predictions the IC history covers; enough for the drift rule's window and lookback.")


def _training_sample(con, settings: TradepipeSettings, model_id: str, cols: str, start, end, rows: int) -> pd.DataFrame:
    """The PSI reference: a seeded sample of the model's training span, drawn once per model and
    kept beside its artifact (the span never changes; drawing it takes ~2 s on 500 tickers)."""
    path = settings.home_path / "models" / model_id / f"psi_reference_{int(rows)}.pkl"
    if path.exists():
        return pd.read_pickle(path)
    sample = con.execute(f"""select {cols} from marts.fct_features
                             where in_universe and date between ? and ?
                             using sample reservoir({int(rows)} rows) repeatable (7)""", [start, end]).df()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    sample.to_pickle(tmp)
    tmp.replace(path)
    return sample


@dg.asset(key=MONITORING, deps=[OOS_PREDICTIONS, DAILY_PREDICTIONS, CHAMPION_MODEL, LABELS, FEATURES],
          group_name="monitoring", kinds={"duckdb"}, partitions_def=MARKET_DATES)
def monitoring(context: dg.AssetExecutionContext, settings: TradepipeSettings, trading: TradingSettings,
               config: MonitoringConfig) -> dg.MaterializeResult:
    """ml.monitoring_ic (daily IC and rolling IC of matured predictions), ml.feature_drift and
    ml.monitoring_log (the JSON record written into the daily report) for the decision date."""
    with settings.warehouse(read_only=True) as con:
        as_of = market_date(context)
        model_id, _ = predictions_on(con, as_of, trading.horizon)
        since = as_of - pd.Timedelta(days=config.history_days)
        _, preds = champion_oos(con, trading.horizon, since=since)
        preds = preds.merge(con.execute("select ticker, date, fwd_return from marts.fct_labels "
                                        "where horizon = ? and date >= ?", [trading.horizon, since.date()]).df(),
                            on=["ticker", "date"], how="left")
        champion = con.execute("select features, train_start, train_end from ml.model_registry where model_id = ?",
                               [model_id]).fetchone()
        features = json.loads(champion[0]) if isinstance(champion[0], str) else list(champion[0])
        cols = ", ".join(f'"{f}"' for f in features)
        train = _training_sample(con, settings, model_id, cols, champion[1], champion[2], config.train_sample_rows)
        today = con.execute(f"select {cols} from marts.fct_features where in_universe and date = ?",
                            [as_of.date()]).df()
    ic = ic_history(preds, as_of, window=config.ic_window)
    drift = model_drift(ic["rank_ic"], window=config.ic_window, threshold=config.drift_threshold,
                        max_share=config.drift_max_share, lookback=config.drift_lookback)
    drifted = feature_drift(train, today, features, warn=config.psi_warn, alert=config.psi_alert)
    quintiles = quintile_returns(preds, as_of)
    log = monitoring_log(as_of, ic, drift, drifted)
    ic_rows = ic.reset_index().assign(as_of=as_of.date(), model_id=model_id)
    drift_rows = drifted.reset_index().assign(as_of=as_of.date(), model_id=model_id)
    log_row = pd.DataFrame([{"as_of": as_of.date(), "model_id": model_id, "review_model": bool(drift["review_model"]),
                             "log": json.dumps(log)}])
    with settings.warehouse() as con:
        con.execute("begin transaction")
        replace_rows(con, "ml.monitoring_ic", ic_rows, "as_of = ?", [as_of.date()])
        replace_rows(con, "ml.feature_drift", drift_rows, "as_of = ?", [as_of.date()])
        replace_rows(con, "ml.monitoring_log", log_row, "as_of = ?", [as_of.date()])
        con.execute("commit")
    return dg.MaterializeResult(metadata={
        "as_of": str(as_of.date()), "model_id": model_id, "review_model": bool(drift["review_model"]),
        "reason": str(drift.get("reason", "")),
        "ic_over_time": metadata.chart(charts.ic_chart(ic), settings.home_path / "charts" / "monitoring_ic.png"),
        "returns_by_quintile": metadata.table(quintiles),
        "feature_drift_top": metadata.table(drifted.head(10)),
    })
